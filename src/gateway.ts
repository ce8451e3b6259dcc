// Starting and stopping roles. `mailpush web`, `mailpush worker` and `mailpush all` all come
// through here; the roles share nothing but the adapters, exactly as separate processes would.
// With REDIS_URL (or REDIS_CLUSTER_NODES, a Redis Cluster) the adapters and the push queue live
// in Redis; without either, one embedded process runs everything on SQLite and memory.

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Adapters } from './adapters/adapters.js';
import { createEmbeddedAdapters } from './adapters/embedded.js';
import { createRedisAdapters } from './adapters/redis/index.js';
import { printableRedisTarget, type RedisTarget } from './adapters/redis/connection.js';
import type { Config } from './config.js';
import { completeEmbeddedConfig } from './embedded-secrets.js';
import { HostLimiter } from './imap/host-limiter.js';
import { CountingEventLog } from './observability/counting-event-log.js';
import { findJemalloc, mallocAdvice, runningMalloc } from './observability/malloc.js';
import { GatewayMetrics } from './observability/metrics.js';
import { startOpsServer, type OpsServer } from './observability/ops-server.js';
import { readinessCheck } from './observability/readiness.js';
import { BullmqPushDispatcher, BullmqPushQueue } from './push/bullmq-queue.js';
import type { DeliveryDeps, PushQueue } from './push/delivery.js';
import { MemoryPushQueue } from './push/memory-queue.js';
import type { SendLimitOptions } from './push/send-limits.js';
import { PushHandoff } from './push/push-handoff.js';
import { PushSender } from './push/sender.js';
import { VapidSigner } from './push/vapid.js';
import { buildWebApp } from './roles/web/app.js';
import { AccountWorker } from './roles/worker/account-worker.js';
import { TeardownStack } from './teardown.js';

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

/** Fails fast, in one line, when Redis does not answer at start-up (ioredis would retry for ever). */
async function requireRedis(adapters: Adapters, target: RedisTarget): Promise<void> {
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
    const variable = typeof target === 'string' ? 'REDIS_URL' : 'REDIS_CLUSTER_NODES';
    throw new StartupError(`cannot reach Redis at ${printableRedisTarget(target)} (${reason}); start Redis or point ${variable} at it`);
  } finally {
    clearTimeout(timer);
    adapters.redis?.off('error', onError);
  }
}

/** Opens storage and the push queue for the mode the configuration asks for; `teardown` closes them. */
async function plumbing(role: Role, given: Config, logger: Logger, teardown: TeardownStack): Promise<Plumbing> {
  const redisTarget: RedisTarget | undefined = given.redisUrl ?? given.redisCluster;
  if (!redisTarget) {
    if (role !== 'all') throw new Error(`mailpush ${role} needs REDIS_URL (or REDIS_CLUSTER_NODES); without Redis run everything in one process with \`mailpush all\``);
    const config = completeEmbeddedConfig(given, logger);
    const adapters = createEmbeddedAdapters(config);
    teardown.push('storage', () => adapters.close());
    // The SQLite store migrated itself as it opened; say so when that changed anything.
    const migrated = await adapters.migrate();
    if (Object.values(migrated).some((n) => n > 0)) logger.info({ ...migrated }, 'data migrated to schema 2');
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
        queue = new MemoryPushQueue({ ...sendLimits(config), maxAttempts: config.push.maxAttempts, maxQueued: config.push.queueLimit }, deps);
        return { close: () => queue!.close() };
      },
    };
  }
  const adapters = createRedisAdapters({ redis: redisTarget, events: given.events, wait: given.redisWait }, role, { log: logger });
  teardown.push('storage', () => adapters.close());
  await requireRedis(adapters, redisTarget);
  // Before this process serves or claims anything: every process waits for the one migrating.
  await adapters.migrate();
  if (!given.push.vapid) return { config: given, adapters };
  const queueOptions = { redis: redisTarget, prefix: adapters.keys!.pushQueuePrefix(), maxAttempts: given.push.maxAttempts };
  const pushQueue = new BullmqPushQueue(queueOptions);
  teardown.push('push queue', () => pushQueue.close());
  return {
    config: given,
    adapters,
    pushQueue,
    startDelivery: (deps) => new BullmqPushDispatcher({ ...queueOptions, ...sendLimits(given) }, deps),
  };
}

/** What one process may have in flight, overall, per user and per push service (push/send-limits.ts). */
function sendLimits(config: Config): SendLimitOptions {
  return { concurrency: config.push.concurrency, perUser: config.push.concurrencyPerUser, perOrigin: config.push.concurrencyPerOrigin };
}

/**
 * Starts a role. Each part is pushed on one teardown stack as it starts, so a start that fails
 * half-way and stop() both close exactly what was opened, newest first: the web app (stop taking
 * clients), the worker (release its leases), the pushes it was still queueing, push delivery,
 * the metrics listener, the push queue, storage.
 */
export async function startGateway(role: Role, givenConfig: Config, logger: Logger): Promise<RunningGateway> {
  const teardown = new TeardownStack(logger);
  try {
    return await startParts(role, givenConfig, logger, teardown);
  } catch (error) {
    await teardown.unwind();
    throw error;
  }
}

async function startParts(role: Role, givenConfig: Config, logger: Logger, teardown: TeardownStack): Promise<RunningGateway> {
  const { config, adapters, pushQueue, startDelivery } = await plumbing(role, givenConfig, logger, teardown);
  await adapters.ping();
  const metrics = new GatewayMetrics();
  if (pushQueue) metrics.provide({ pushQueueDepth: () => pushQueue.depth() });
  const vapid = config.push.vapid;
  if (!vapid) logger.info('Web Push is off: set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT to turn it on');
  // One cap on logins per IMAP host for the whole process: in `all` the API's login checks and
  // the worker's sessions share it.
  const limiter = new HostLimiter(config.imap.connectConcurrency);

  let worker: AccountWorker | undefined;
  let pushes: PushHandoff | undefined;
  if (role === 'worker' || role === 'all') {
    const log = logger.child({ role: 'worker' });
    pushes = pushQueue && new PushHandoff(adapters.pushOutbox, pushQueue, adapters.pushSubscriptions, log, adapters.devices);
    const eventLog = new CountingEventLog(adapters.eventLog, metrics);
    worker = new AccountWorker({ ...adapters, eventLog, limiter, ...(pushes ? { pushes } : {}) }, config, log, metrics);
    const malloc = runningMalloc();
    // MALLOC_CONF is jemalloc's own variable, not the gateway's; only a worker-only process is advised on it.
    log.info({ malloc }, mallocAdvice(malloc, malloc === 'jemalloc' ? undefined : findJemalloc(), role === 'worker' ? process.env.MALLOC_CONF ?? '' : undefined));
  }
  // Probes answer from the start (a starting worker is alive but not ready), and "worker
  // started" or "listening" in the log then means every port is up.
  let ops: OpsServer | undefined;
  if (config.metricsPort !== undefined) {
    const started = await startOpsServer({ host: config.metricsHost, port: config.metricsPort, metrics, readiness: readinessCheck(adapters, worker) });
    teardown.push('metrics listener', () => started.close());
    ops = started;
  }
  const webLog = logger.child({ role: 'web' });
  if ((role === 'web' || role === 'all') && vapid && startDelivery) {
    // Web processes deliver the pushes: they are the role that scales with outbound traffic.
    // Started before the worker, so it stops after it: the pushes of the worker's last appends
    // still go out (embedded, the memory queue only exists once delivery started).
    const sender = new PushSender({
      vapid: new VapidSigner(vapid),
      ttlSeconds: config.push.ttlSeconds,
      timeoutMs: config.push.timeoutMs,
      allowPrivateEndpoints: config.push.allowPrivateEndpoints,
      maxSocketsPerOrigin: config.push.concurrencyPerOrigin,
      maxOriginAgents: config.push.maxOriginAgents,
      originIdleMs: config.push.originIdleMs,
    });
    metrics.provide({ pushOriginAgents: () => sender.originAgents });
    const delivery = startDelivery({
      subscriptions: adapters.pushSubscriptions,
      log: webLog.child({ part: 'push' }),
      onOutcome: (outcome, job) => metrics.pushOutcome(outcome, job.event),
      onQueueDrop: (reason) => metrics.pushDropped(reason),
      sender,
    });
    teardown.push('push delivery', () => delivery.close());
  }
  if (worker) {
    const started = worker;
    // Pushes of the last mail appended before the stop are still on their way into the queue.
    if (pushes) teardown.push('queued pushes', () => pushes.settled());
    teardown.push('worker', () => started.stop());
    await worker.start();
  }
  let app: FastifyInstance | undefined;
  let url: string | undefined;
  if (role === 'web' || role === 'all') {
    const built = await buildWebApp({ config, adapters, logger: webLog, metrics, limiter, readiness: readinessCheck(adapters, worker), ...(pushQueue ? { pushQueue } : {}) });
    teardown.push('web', () => built.close());
    url = await built.listen({ port: config.port, host: config.host });
    app = built;
  }
  return {
    ...(url ? { url } : {}),
    ...(ops ? { metricsUrl: ops.url } : {}),
    metrics,
    ...(app ? { app } : {}),
    ...(worker ? { worker } : {}),
    adapters,
    config,
    stop: () => teardown.unwind(),
  };
}
