// Operator views behind ADMIN_TOKEN: every account, whoever owns it, and which worker holds it.

import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Config } from '../../../config.js';
import type { AccountStore, EventLog, LeaseManager, WorkerRegistry } from '../../../core/ports.js';
import { toAccountView, type AccountRecord } from '../../../core/types.js';
import type { Authenticator } from '../auth.js';
import { checkSince } from './events.js';
import { Account, EventList, EventsQuery, errorResponses } from '../schemas.js';

const AdminAccount = Type.Intersect([Account, Type.Object({ userId: Type.String(), worker: Type.Optional(Type.String()) })]);

const Worker = Type.Object({
  workerId: Type.String(),
  host: Type.String(),
  pid: Type.Integer(),
  startedAt: Type.String(),
  accounts: Type.Integer(),
  capacity: Type.Integer(),
  lastSeen: Type.String(),
});

export interface AdminRoutesDeps {
  config: Pick<Config, 'worker'>;
  accounts: AccountStore;
  leases: LeaseManager;
  eventLog: EventLog;
  workers: WorkerRegistry;
  auth: Authenticator;
}

export function adminRoutes(deps: AdminRoutesDeps) {
  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();
    app.get('/v1/admin/accounts', {
      schema: { response: { 200: Type.Object({ accounts: Type.Array(AdminAccount) }), ...errorResponses } },
    }, async (request) => {
      await deps.auth.requireAdmin(request);
      const records: AccountRecord[] = [];
      let cursor = '0';
      do {
        const page = await deps.accounts.scan(cursor);
        cursor = page.cursor;
        const found = await Promise.all(page.refs.map((ref) => deps.accounts.get(ref)));
        records.push(...found.filter((r): r is AccountRecord => r !== undefined));
      } while (cursor !== '0');
      const accounts = await Promise.all(records.map(async (record) => {
        const worker = await deps.leases.holder(record);
        return { ...toAccountView(record), userId: record.userId, ...(worker ? { worker } : {}) };
      }));
      return { accounts: accounts.sort((a, b) => a.id.localeCompare(b.id)) };
    });

    app.get('/v1/admin/workers', {
      schema: { response: { 200: Type.Object({ workers: Type.Array(Worker) }), ...errorResponses } },
    }, async (request) => {
      await deps.auth.requireAdmin(request);
      const live = await deps.workers.live(deps.config.worker.leaseTtlMs * 2);
      return { workers: live.map(({ seenAt, ...info }) => ({ ...info, lastSeen: new Date(seenAt).toISOString() })) };
    });

    app.get('/v1/admin/users/:userId/events', {
      schema: {
        params: Type.Object({ userId: Type.String({ pattern: '^usr_[A-Za-z0-9_-]{1,32}$' }) }),
        querystring: EventsQuery,
        response: { 200: EventList, ...errorResponses },
      },
    }, async (request) => {
      await deps.auth.requireAdmin(request);
      const { since, limit = 100 } = request.query;
      checkSince(since);
      const events = await deps.eventLog.read(request.params.userId, since, limit);
      return { events, resyncRequired: since ? await deps.eventLog.isTrimmedAfter(request.params.userId, since) : false };
    });
  };
}
