// The web role's Fastify application. Building it connects nothing and listens nowhere: the
// caller decides (tests use the same builder as production).

import Fastify, { type FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import type { Logger } from 'pino';
import type { Adapters } from '../../adapters/adapters.js';
import type { Config } from '../../config.js';
import { SecretBox } from '../../core/secret-box.js';
import { HostLimiter } from '../../imap/host-limiter.js';
import { Authenticator } from './auth.js';
import { answerRefusedUpgrades, clientErrorHandler, frameworkErrors, installErrorHandling } from './errors.js';
import { AccountRegistration } from './account-registration.js';
import { DeviceAccess } from './device-access.js';
import { accountRoutes } from './routes/accounts.js';
import { messageRoutes } from './routes/messages.js';
import { deviceRoutes } from './routes/devices.js';
import { pairingRoutes } from './routes/pairings.js';
import { sessionRoutes } from './routes/sessions.js';
import { adminRoutes } from './routes/admin.js';
import { pushRoutes } from './routes/push.js';
import type { PushQueue } from '../../push/delivery.js';
import { eventRoutes } from './routes/events.js';
import { streamRoutes } from './routes/stream.js';
import { StreamAdmission, clientAddressKey } from './stream-admission.js';
import { MailboxLoginBudget } from './mailbox-login-budget.js';
import { configRoutes } from './routes/config.js';
import { discoverRoutes } from './routes/discover.js';
import { docsContentSecurityPolicy, registerPwa, registerSecurityHeaders } from './web-client.js';
import { CloseCode } from '../../protocol/stream.js';
import { opsRoutes } from './routes/ops.js';
import { dovecotHookRoutes } from './routes/dovecot-hook.js';
import { oauthRoutes } from './routes/oauth.js';
import { OAuthSignIn } from './oauth-sign-in.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import { readinessCheck, type ReadinessCheck } from '../../observability/readiness.js';

export interface WebAppOptions {
  config: Config;
  adapters: Adapters;
  logger: Logger;
  /** Present when Web Push is configured. */
  pushQueue?: PushQueue;
  metrics?: GatewayMetrics;
  /** What /readyz checks; by default that storage answers. */
  readiness?: ReadinessCheck;
  /**
   * Caps the registration login checks per IMAP host; `mailpush all` passes the worker's, so the
   * process as a whole keeps IMAP_CONNECT_CONCURRENCY. By default one of its own.
   */
  limiter?: HostLimiter;
}

/**
 * Fastify 5 trusts no one for a bare hop count (it cannot tell a proxy from a direct client), so a
 * count is given as the function Express would build: the nearest `hops` peers are proxies. Like
 * `true`, that is only safe when nothing but the proxies can reach the port.
 */
function trustProxyOption(trust: Config['trustProxy']): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof trust === 'number' ? (_address, hop) => hop < trust : trust;
}

export async function buildWebApp({ config, adapters, logger, pushQueue, metrics, readiness, limiter }: WebAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: config.web.bodyLimitBytes,
    // Who may set X-Forwarded-For (TRUST_PROXY); request.ip, which every per-address limit counts, follows it.
    trustProxy: trustProxyOption(config.trustProxy),
    // While shutting down, new requests get a 503 so a load balancer retries them elsewhere.
    return503OnClosing: true,
    clientErrorHandler,
    frameworkErrors,
  }) as unknown as FastifyInstance;
  installErrorHandling(app);
  // Before any route, so every response (API, docs, the PWA) carries the headers.
  await registerSecurityHeaders(app);

  await app.register(rateLimit, {
    global: false,
    // An IPv6 client is counted per /64 (one host usually has a whole /64 to pick addresses from),
    // an IPv4-mapped IPv6 address as its IPv4 address.
    keyGenerator: (request) => clientAddressKey(request.ip),
    ...adapters.rateLimitStore,
  });
  await app.register(websocket, {
    options: { maxPayload: 16 * 1024 },
    // On shutdown tell every client to reconnect elsewhere (1001 Going Away), then stop.
    preClose(done) {
      const sockets = [...app.websocketServer.clients];
      const closed = sockets.map((socket) => new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close(CloseCode.goingAway, 'server shutting down');
      }));
      // Wait for the closing handshakes (bounded), so clients see 1001 and not a dropped connection.
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, 3000).unref());
      void Promise.race([Promise.all(closed), deadline]).then(() => {
        sockets.forEach((socket) => socket.terminate());
        app.websocketServer.close(() => done());
      });
    },
  });

  answerRefusedUpgrades(app.websocketServer);

  // The OpenAPI document is generated from the route schemas below, so it cannot drift from them.
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'mailpush API', version: '1', description: 'Push mail for any IMAP mailbox. Errors are {"error": {"code", "message"}}.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, dovecotBasic: { type: 'http', scheme: 'basic' } } },
      security: [{ bearer: [] }],
    },
    // Shared schemas keep their own names under components/schemas.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', transformStaticCSP: docsContentSecurityPolicy });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const auth = new Authenticator(adapters.devices, config.adminToken);
  const imap = { config, limiter: limiter ?? new HostLimiter(config.imap.connectConcurrency) };
  const loginBudget = new MailboxLoginBudget(adapters.attempts, { max: config.web.mailboxLoginLimit, windowMs: config.web.mailboxLoginWindowMs });
  const secretBox = new SecretBox(config.secret);
  const registration = new AccountRegistration({ config, ...adapters, secretBox, imap, loginBudget });
  const deviceAccess = new DeviceAccess(adapters);
  await app.register(accountRoutes({ config, adapters, auth, secretBox, registration, imap }));
  await app.register(messageRoutes({ config, adapters, auth }));
  await app.register(sessionRoutes({ config, registration }));
  await app.register(oauthRoutes({ config, auth, signIn: new OAuthSignIn({ oauth: config.oauth, flows: adapters.oauthFlows, registration, secretBox }) }));
  await app.register(deviceRoutes({ devices: adapters.devices, access: deviceAccess, auth }));
  await app.register(pairingRoutes({ config, pairings: adapters.pairings, devices: adapters.devices, attempts: adapters.attempts, auth }));
  await app.register(eventRoutes({ eventLog: adapters.eventLog, auth }));
  await app.register(pushRoutes({ config, subscriptions: adapters.pushSubscriptions, accounts: adapters.accounts, queue: pushQueue, auth }));
  await app.register(adminRoutes({ config, accounts: adapters.accounts, leases: adapters.leases, eventLog: adapters.eventLog, workers: adapters.workers, auth }));
  await app.register(configRoutes({ config }));
  await app.register(discoverRoutes({ config, logger }));
  const admission = new StreamAdmission({ maxPerUser: config.web.wsMaxPerUser, maxUnauthenticatedPerAddress: config.web.wsMaxUnauthenticatedPerAddress });
  await app.register(streamRoutes({ config, auth, admission, eventLog: adapters.eventLog, liveFeed: adapters.liveFeed, accounts: adapters.accounts, revocations: adapters.revocations, ...(metrics ? { metrics } : {}) }));
  await app.register(dovecotHookRoutes({ config, hints: adapters.hints, ...(metrics ? { metrics } : {}) }));
  await app.register(opsRoutes({ auth, readiness: readiness ?? readinessCheck(adapters), ...(metrics ? { metrics } : {}), ...(config.adminToken ? { adminToken: config.adminToken } : {}) }));
  // Authenticated streams (sockets still authenticating are not streams yet).
  metrics?.provide({ webSocketClients: () => admission.clients.size });

  // The installable web app at `/` (static files, hidden from the OpenAPI document).
  await registerPwa(app);
  return app;
}
