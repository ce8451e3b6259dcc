import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { EventLog } from '../../../core/ports.js';
import type { Authenticator } from '../auth.js';
import { isEventId } from '../../../protocol/event-ids.js';
import { ApiError } from '../errors.js';
import { EventList, EventsQuery, errorResponses } from '../schemas.js';

/**
 * The schema's pattern checks the digits; this also refuses a side past 2^64-1, which the log
 * (Redis) cannot compare against and would answer with an error.
 */
export function checkSince(since: string | undefined): void {
  if (since !== undefined && !isEventId(since)) throw new ApiError(400, 'invalid_request', 'since is not an event id (each side at most 2^64-1)');
}

export function eventRoutes(deps: { eventLog: EventLog; auth: Authenticator }) {
  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();
    app.get('/v1/events', {
      schema: { querystring: EventsQuery, response: { 200: EventList, ...errorResponses } },
    }, async (request) => {
      const userId = await deps.auth.requireUser(request);
      const { since, limit = 100 } = request.query;
      checkSince(since);
      const [events, resyncRequired] = await Promise.all([
        deps.eventLog.read(userId, since, limit),
        since ? deps.eventLog.isTrimmedAfter(userId, since) : Promise.resolve(false),
      ]);
      return { events, resyncRequired };
    });
  };
}
