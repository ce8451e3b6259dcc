// Probes and metrics on the web port. /healthz says the process is alive; /readyz says it can do
// its work (storage answers; a worker in the same process has current leases). /metrics is for
// the operator only: it answers to the admin token (or use METRICS_PORT, which needs none).

import type { FastifyInstance } from 'fastify';
import type { GatewayMetrics } from '../../../observability/metrics.js';
import type { ReadinessCheck } from '../../../observability/readiness.js';
import type { Authenticator } from '../auth.js';
import { ApiError } from '../errors.js';

export interface OpsRoutesDeps {
  auth: Authenticator;
  adminToken?: string;
  metrics?: GatewayMetrics;
  readiness: ReadinessCheck;
}

export function opsRoutes(deps: OpsRoutesDeps) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/healthz', async () => ({ status: 'ok' }));
    app.get('/readyz', async (_request, reply) => {
      const readiness = await deps.readiness();
      return reply.code(readiness.ready ? 200 : 503).send({ status: readiness.ready ? 'ready' : 'not_ready', checks: readiness.checks });
    });
    app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
      if (!deps.metrics || !deps.adminToken) {
        throw new ApiError(404, 'metrics_disabled', 'metrics are served here only with ADMIN_TOKEN set; or set METRICS_PORT');
      }
      await deps.auth.requireAdmin(request);
      return reply.type(deps.metrics.contentType).send(await deps.metrics.render());
    });
  };
}
