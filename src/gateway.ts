// Starting and stopping roles. `mailpush web`, `mailpush worker` and `mailpush all` all come
// through here; the roles share nothing but the adapters, exactly as separate processes would.

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Adapters } from './adapters/adapters.js';
import { createRedisAdapters } from './adapters/redis/index.js';
import type { Config } from './config.js';
import { buildWebApp } from './roles/web/app.js';
import { AccountWorker } from './roles/worker/account-worker.js';
import { PushDispatcher, PushQueue } from './push/push-queue.js';
import { PushingEventLog } from './push/pushing-event-log.js';
import { PushSender } from './push/sender.js';
import { VapidSigner } from './push/vapid.js';

export type Role = 'web' | 'worker' | 'all';

export interface RunningGateway {
  /** Where the web role listens, when it runs. */
  url?: string;
  app?: FastifyInstance;
  worker?: AccountWorker;
  adapters: Adapters;
  stop(): Promise<void>;
}

export async function startGateway(role: Role, config: Config, logger: Logger): Promise<RunningGateway> {
  const adapters = createRedisAdapters(config, role, { log: logger });
  await adapters.ping();
  let app: FastifyInstance | undefined;
  let worker: AccountWorker | undefined;
  let dispatcher: PushDispatcher | undefined;
  let url: string | undefined;
  const vapid = config.push.vapid;
  const queueOptions = { redisUrl: config.redisUrl, prefix: adapters.keys!.pushQueuePrefix(), maxAttempts: config.push.maxAttempts };
  const pushQueue = vapid ? new PushQueue(queueOptions, adapters.pushSubscriptions) : undefined;
  if (!vapid) logger.info('Web Push is off: set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT to turn it on');
  try {
    if (role === 'worker' || role === 'all') {
      const log = logger.child({ role: 'worker' });
      const eventLog = pushQueue ? new PushingEventLog(adapters.eventLog, pushQueue, log) : adapters.eventLog;
      worker = new AccountWorker({ ...adapters, eventLog }, config, log);
      await worker.start();
    }
    if (role === 'web' || role === 'all') {
      const log = logger.child({ role: 'web' });
      if (vapid) {
        // Web processes deliver the pushes: they are the role that scales with outbound traffic.
        dispatcher = new PushDispatcher({
          ...queueOptions,
          concurrency: config.push.concurrency,
          subscriptions: adapters.pushSubscriptions,
          log: log.child({ part: 'push' }),
          sender: new PushSender({
            vapid: new VapidSigner(vapid),
            ttlSeconds: config.push.ttlSeconds,
            timeoutMs: config.push.timeoutMs,
            allowPrivateEndpoints: config.push.allowPrivateEndpoints,
          }),
        });
      }
      app = await buildWebApp({ config, adapters, logger: log, pushQueue });
      url = await app.listen({ port: config.port, host: config.host });
    }
  } catch (error) {
    await worker?.stop();
    await app?.close();
    await dispatcher?.close();
    await pushQueue?.close();
    await adapters.close();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    ...(url ? { url } : {}),
    ...(app ? { app } : {}),
    ...(worker ? { worker } : {}),
    adapters,
    stop() {
      // Web first (stop taking clients), then the worker releases its leases, then storage.
      stopping ??= (async () => {
        await app?.close();
        await worker?.stop();
        // In-flight pushes finish before the connections go.
        await dispatcher?.close();
        await pushQueue?.close();
        await adapters.close();
      })();
      return stopping;
    },
  };
}
