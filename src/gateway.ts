// Starting and stopping roles. `mailpush web`, `mailpush worker` and `mailpush all` all come
// through here; the roles share nothing but the adapters, exactly as separate processes would.
// With REDIS_URL the adapters and the push queue live in Redis; without it, one embedded
// process runs everything on SQLite and memory.

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Adapters } from './adapters/adapters.js';
import { createEmbeddedAdapters } from './adapters/embedded.js';
import { createRedisAdapters } from './adapters/redis/index.js';
import type { Config } from './config.js';
import { completeEmbeddedConfig } from './embedded-secrets.js';
import { CountingEventLog } from './observability/counting-event-log.js';
import { GatewayMetrics } from './observability/metrics.js';
import { startOpsServer, type OpsServer } from './observability/ops-server.js';
import { readinessCheck } from './observability/readiness.js';
import { BullmqPushDispatcher, BullmqPushQueue } from './push/bullmq-queue.js';
import type { DeliveryDeps, PushQueue } from './push/delivery.js';
import { MemoryPushQueue } from './push/memory-queue.js';
import { PushingEventLog } from './push/pushing-event-log.js';
import { PushSender } from './push/sender.js';
import { VapidSigner } from './push/vapid.js';
import { buildWebApp } from './roles/web/app.js';
import { AccountWorker } from './roles/worker/account-worker.js';

export type Role = 'web' | 'worker' | 'all';

export interface RunningGateway {
  /** Where the web role listens, when it runs. */
  url?: string;
  /** Where METRICS_PORT's listener is, when configured. */
  metricsUrl?: string;
  metrics: GatewayMetrics;
  app?: FastifyInstance;
  worker?: AccountWorker;
  adapters: Adapters;
  config: Config;
  stop(): Promise<void>;
}

/** Storage and push plumbing for the mode the configuration asks for. */
interface Plumbing {
  config: Config;
  adapters: Adapters;
  /** Producer (workers and the API) — absent when push is off. */
  pushQueue?: PushQueue;
  /** Starts sending pushes in a web process; returns what stops it. */
  startDelivery?(deps: DeliveryDeps): { close(): Promise<void> };
}

/** A start-up failure an operator can fix; its message is the one line `mailpush` prints. */
export class StartupError extends Error {
  override name = 'StartupError';
}

const STARTUP_REDIS_TIMEOUT_MS = 5000;

/** REDIS_URL as it may be shown: without its password. */
function printableRedisUrl(value: string): string {
  const url = new URL(value);
  if (url.password) url.password = '***';
  return url.toString();
}

/** Fails fast, in one line, when Redis does not answer at start-up (ioredis would retry for ever). */
async function requireRedis(adapters: Adapters, redisUrl: string): Promise<void> {
  let lastError = 'no answer';
  const onError = (error: Error) => (lastError = error.message);
  adapters.redis?.on('error', onError);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      adapters.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), STARTUP_REDIS_TIMEOUT_MS);
      }),
    ]);
  } catch (error) {
    const reason = (error as Error).message === 'timeout' ? lastError : (error as Error).message;
    await adapters.close().catch(() => undefined);
    throw new StartupError(`cannot reach Redis at ${printableRedisUrl(redisUrl)} (${reason}); start Redis or point REDIS_URL at it`);
  } finally {
    clearTimeout(timer);
    adapters.redis?.off('error', onError);
  }
}

async function plumbing(role: Role, given: Config, logger: Logger): Promise<Plumbing> {
  if (!given.redisUrl) {
    if (role !== 'all') throw new Error(`mailpush ${role} needs REDIS_URL; without Redis run everything in one process with \`mailpush all\``);
    const config = completeEmbeddedConfig(given, logger);
    const adapters = createEmbeddedAdapters(config);
    let queue: MemoryPushQueue | undefined;
    return {
      config,
      adapters,
      // The memory queue both takes and sends jobs; it exists once the web part hands it a sender.
      pushQueue: {
        enqueue: (jobs) => queue?.enqueue(jobs) ?? Promise.resolve(),
        depth: () => queue?.depth() ?? Promise.resolve(0),
        close: () => queue?.close() ?? Promise.resolve(),
      },
      startDelivery(deps) {
        queue = new MemoryPushQueue({ concurrency: config.push.concurrency, maxAttempts: config.push.maxAttempts }, deps);
        return { close: () => queue!.close() };
      },
    };
  }
  const adapters = createRedisAdapters({ redisUrl: given.redisUrl, events: given.events }, role, { log: logger });
  await requireRedis(adapters, given.redisUrl);
  if (!given.push.vapid) return { config: given, adapters };
  const queueOptions = { redisUrl: given.redisUrl, prefix: adapters.keys!.pushQueuePrefix(), maxAttempts: given.push.maxAttempts };
  return {
    config: given,
    adapters,
    pushQueue: new BullmqPushQueue(queueOptions),
    startDelivery: (deps) => new BullmqPushDispatcher({ ...queueOptions, concurrency: given.push.concurrency }, deps),
  };
}

export async function startGateway(role: Role, givenConfig: Config, logger: Logger): Promise<RunningGateway> {
  const { config, adapters, pushQueue, startDelivery } = await plumbing(role, givenConfig, logger);
  await adapters.ping();
  let app: FastifyInstance | undefined;
  let worker: AccountWorker | undefined;
  let pushingLog: PushingEventLog | undefined;
  let delivery: { close(): Promise<void> } | undefined;
  let url: string | undefined;
  let ops: OpsServer | undefined;
  const metrics = new GatewayMetrics();
  if (pushQueue) metrics.provide({ pushQueueDepth: () => pushQueue.depth() });
  const vapid = config.push.vapid;
  if (!vapid) logger.info('Web Push is off: set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT to turn it on');
  try {
    if (role === 'worker' || role === 'all') {
      const log = logger.child({ role: 'worker' });
      pushingLog = pushQueue && new PushingEventLog(adapters.eventLog, pushQueue, adapters.pushSubscriptions, log);
      const eventLog = new CountingEventLog(pushingLog ?? adapters.eventLog, metrics);
      worker = new AccountWorker({ ...adapters, eventLog, ...(pushingLog ? { pushRecovery: pushingLog } : {}) }, config, log, metrics);
    }
    // Probes answer from the start (a starting worker is alive but not ready), and "worker
    // started" or "listening" in the log then means every port is up.
    if (config.metricsPort !== undefined) {
      ops = await startOpsServer({ host: config.host, port: config.metricsPort, metrics, readiness: readinessCheck(adapters, worker) });
    }
    await worker?.start();
    if (role === 'web' || role === 'all') {
      const log = logger.child({ role: 'web' });
      if (vapid && startDelivery) {
        // Web processes deliver the pushes: they are the role that scales with outbound traffic.
        delivery = startDelivery({
          subscriptions: adapters.pushSubscriptions,
          log: log.child({ part: 'push' }),
          onOutcome: (outcome, job) => metrics.pushOutcome(outcome, job.event),
          sender: new PushSender({
            vapid: new VapidSigner(vapid),
            ttlSeconds: config.push.ttlSeconds,
            timeoutMs: config.push.timeoutMs,
            allowPrivateEndpoints: config.push.allowPrivateEndpoints,
          }),
        });
      }
      app = await buildWebApp({ config, adapters, logger: log, metrics, readiness: readinessCheck(adapters, worker), ...(pushQueue ? { pushQueue } : {}) });
      url = await app.listen({ port: config.port, host: config.host });
    }
  } catch (error) {
    await ops?.close();
    await worker?.stop();
    await app?.close();
    await delivery?.close();
    await pushQueue?.close();
    await adapters.close();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    ...(url ? { url } : {}),
    ...(ops ? { metricsUrl: ops.url } : {}),
    metrics,
    ...(app ? { app } : {}),
    ...(worker ? { worker } : {}),
    adapters,
    config,
    stop() {
      // Web first (stop taking clients), then the worker releases its leases, then in-flight
      // pushes finish, then storage.
      stopping ??= (async () => {
        await ops?.close();
        await app?.close();
        await worker?.stop();
        // Pushes of the last mail appended before the stop are still on their way into the queue.
        await pushingLog?.settled();
        await delivery?.close();
        await pushQueue?.close();
        await adapters.close();
      })();
      return stopping;
    },
  };
}
