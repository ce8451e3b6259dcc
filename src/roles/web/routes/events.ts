import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { EventLog } from '../../../core/ports.js';
import type { Authenticator } from '../auth.js';
import { EventList, EventsQuery, errorResponses } from '../schemas.js';

export function eventRoutes(deps: { eventLog: EventLog; auth: Authenticator }) {
  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();
    app.get('/v1/events', {
      schema: { querystring: EventsQuery, response: { 200: EventList, ...errorResponses } },
    }, async (request) => {
      const userId = await deps.auth.requireUser(request);
      const { since, limit = 100 } = request.query;
      const [events, resyncRequired] = await Promise.all([
        deps.eventLog.read(userId, since, limit),
        since ? deps.eventLog.isTrimmedAfter(userId, since) : Promise.resolve(false),
      ]);
      return { events, resyncRequired };
    });
  };
}
