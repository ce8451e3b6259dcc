// Registering and managing mailboxes. A mailbox is stored only after a real login proved its
// credentials, and its password is sealed before it touches the store.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Adapters } from '../../../adapters/adapters.js';
import type { Config } from '../../../config.js';
import type { SecretBox } from '../../../core/secret-box.js';
import { newId, newToken, hashToken } from '../../../core/tokens.js';
import { toAccountView, type AccountRecord, type ImapSettings } from '../../../core/types.js';
import { verifyImapLogin, type ImapClientOptions, ImapConnectError } from '../../../imap/client.js';
import type { Authenticator } from '../auth.js';
import { ApiError, notFound } from '../errors.js';
import {
  AccountEnvelope, AccountIdParams, AccountList, CreateAccountBody, CreatedAccount, PatchAccountBody, errorResponses,
} from '../schemas.js';

export interface AccountRoutesDeps {
  config: Config;
  adapters: Pick<Adapters, 'accounts' | 'users' | 'control'>;
  auth: Authenticator;
  secretBox: SecretBox;
  imap: ImapClientOptions;
}

/** One mailbox, however the user spelled its host or login. */
function identityOf(settings: ImapSettings): string {
  return `${settings.host.toLowerCase()}|${settings.port}|${settings.user.toLowerCase()}`;
}

async function proveLogin(settings: ImapSettings, password: string, deps: AccountRoutesDeps): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ImapConnectError('unreachable', 'timed out')), deps.config.imap.connectTimeoutMs);
  });
  try {
    await Promise.race([verifyImapLogin(settings, password, deps.imap), timeout]);
  } catch (error) {
    if (!(error instanceof ImapConnectError)) throw error;
    switch (error.kind) {
      case 'auth_failed':
        throw new ApiError(422, 'imap_auth_failed', 'the IMAP server rejected the user name or password');
      case 'host_not_allowed':
        throw new ApiError(403, 'imap_host_not_allowed', `connecting to ${settings.host} is not allowed: ${error.message}`);
      case 'insecure_not_allowed':
        throw new ApiError(403, 'imap_insecure_not_allowed', error.message);
      default:
        throw new ApiError(502, 'imap_unreachable', `cannot reach ${settings.host}:${settings.port}: ${error.message}`);
    }
  } finally {
    clearTimeout(timer);
  }
}

export function accountRoutes(deps: AccountRoutesDeps) {
  const { config, adapters, auth, secretBox } = deps;

  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();

    app.post('/v1/accounts', {
      schema: { body: CreateAccountBody, response: { 201: CreatedAccount, ...errorResponses } },
      config: { rateLimit: { max: config.web.registerRateLimitPerMinute, timeWindow: 60_000 } },
    }, async (request, reply) => {
      const principal = await auth.optional(request);
      if (principal?.kind === 'admin') throw new ApiError(403, 'forbidden', 'the admin token cannot own accounts');
      const body = request.body;
      const host = body.imap.host ?? config.imap.defaultHost;
      if (!host) throw new ApiError(400, 'invalid_request', 'imap.host is required (this gateway has no default IMAP host)');
      const security = body.imap.security ?? config.imap.defaultSecurity;
      const settings: ImapSettings = {
        host: host.trim(),
        port: body.imap.port ?? (body.imap.host ? undefined : config.imap.defaultPort) ?? (security === 'tls' ? 993 : 143),
        security,
        user: body.imap.user,
      };
      if (principal && (await adapters.accounts.findIdentity(principal.userId, identityOf(settings)))) {
        throw new ApiError(409, 'account_exists', 'this mailbox is already registered');
      }
      await proveLogin(settings, body.imap.pass, deps);

      let userId = principal?.userId;
      let token: string | undefined;
      if (!userId) {
        token = newToken();
        userId = await adapters.users.create(hashToken(token));
      }
      const accountId = newId('acc');
      const now = new Date().toISOString();
      const record: AccountRecord = {
        userId,
        accountId,
        email: body.email ?? (body.imap.user.includes('@') ? body.imap.user : `${body.imap.user}@${settings.host}`),
        imap: settings,
        sealedPassword: secretBox.seal(body.imap.pass, accountId),
        mailboxes: body.mailboxes ?? ['INBOX'],
        disabled: false,
        state: 'connecting',
        createdAt: now,
        updatedAt: now,
      };
      if ((await adapters.accounts.create(record, identityOf(settings))) === 'exists') {
        throw new ApiError(409, 'account_exists', 'this mailbox is already registered');
      }
      await adapters.control.publish({ kind: 'created', userId, accountId });
      reply.code(201);
      return { account: toAccountView(record), ...(token ? { token } : {}) };
    });

    app.get('/v1/accounts', {
      schema: { response: { 200: AccountList, ...errorResponses } },
    }, async (request) => {
      const userId = await auth.requireUser(request);
      return { accounts: (await adapters.accounts.listForUser(userId)).map(toAccountView) };
    });

    app.get('/v1/accounts/:id', {
      schema: { params: AccountIdParams, response: { 200: AccountEnvelope, ...errorResponses } },
    }, async (request) => {
      const userId = await auth.requireUser(request);
      const record = await adapters.accounts.get({ userId, accountId: request.params.id });
      if (!record) throw notFound('account');
      return { account: toAccountView(record) };
    });

    app.patch('/v1/accounts/:id', {
      schema: { params: AccountIdParams, body: PatchAccountBody, response: { 200: AccountEnvelope, ...errorResponses } },
    }, async (request) => {
      const userId = await auth.requireUser(request);
      const ref = { userId, accountId: request.params.id };
      const record = await adapters.accounts.get(ref);
      if (!record) throw notFound('account');
      const { imap, mailboxes, disabled } = request.body;
      if (imap?.pass !== undefined) await proveLogin(record.imap, imap.pass, deps);
      const updated = await adapters.accounts.update(ref, {
        ...(imap?.pass !== undefined ? { sealedPassword: secretBox.seal(imap.pass, ref.accountId) } : {}),
        ...(mailboxes ? { mailboxes } : {}),
        ...(disabled !== undefined ? { disabled } : {}),
      });
      if (!updated) throw notFound('account');
      // The worker starts the account over (it hears of the change on the bus): a new password
      // clears an auth failure at once, and new mailboxes are not watched before they connect.
      const restarts = record.disabled || imap?.pass !== undefined || mailboxes !== undefined;
      const state = updated.disabled ? 'disabled' : restarts ? 'connecting' : updated.state;
      if (state !== updated.state) {
        await adapters.accounts.setState(ref, { state, lastError: null });
        updated.state = state;
        delete updated.lastError;
      }
      await adapters.control.publish({ kind: 'updated', ...ref });
      return { account: toAccountView(updated) };
    });

    app.delete('/v1/accounts/:id', {
      schema: { params: AccountIdParams, response: { 204: Type.Null(), ...errorResponses } },
    }, async (request, reply) => {
      const userId = await auth.requireUser(request);
      const ref = { userId, accountId: request.params.id };
      if (!(await adapters.accounts.delete(ref))) throw notFound('account');
      await adapters.control.publish({ kind: 'deleted', ...ref });
      return reply.code(204).send(null);
    });
  };
}
