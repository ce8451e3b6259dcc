// METRICS_PORT: a plain HTTP listener with /metrics, /healthz and /readyz and no token, for
// Prometheus and container probes. It is the only HTTP a `mailpush worker` serves, and it keeps
// scrapes off the public port of a web process.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorBody } from '../protocol/errors.js';
import type { GatewayMetrics } from './metrics.js';
import type { ReadinessCheck } from './readiness.js';

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

export async function startOpsServer(options: { host: string; port: number; metrics: GatewayMetrics; readiness: ReadinessCheck }): Promise<OpsServer> {
  const server: Server = createServer((request, response) => {
    const send = (status: number, body: string, type = 'application/json') => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return send(405, JSON.stringify(errorBody('method_not_allowed', 'only GET is served here')));
    }
    const answer = async () => {
      if (path === '/metrics') return send(200, await options.metrics.render(), options.metrics.contentType);
      if (path === '/healthz') return send(200, JSON.stringify({ status: 'ok' }));
      if (path === '/readyz') {
        const readiness = await options.readiness();
        return send(readiness.ready ? 200 : 503, JSON.stringify({ status: readiness.ready ? 'ready' : 'not_ready', checks: readiness.checks }));
      }
      return send(404, JSON.stringify(errorBody('not_found', 'this port serves /metrics, /healthz and /readyz')));
    };
    answer().catch(() => send(500, JSON.stringify(errorBody('internal_error', 'internal error'))));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
