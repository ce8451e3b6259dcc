// Starting and stopping roles. `mailpush web`, `mailpush worker` and `mailpush all` all come
// through here; the roles share nothing but the adapters, exactly as separate processes would.

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Adapters } from './adapters/adapters.js';
import { createRedisAdapters } from './adapters/redis/index.js';
import type { Config } from './config.js';
import { buildWebApp } from './roles/web/app.js';
import { AccountWorker } from './roles/worker/account-worker.js';

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
  let url: string | undefined;
  try {
    if (role === 'worker' || role === 'all') {
      worker = new AccountWorker(adapters, config, logger.child({ role: 'worker' }));
      await worker.start();
    }
    if (role === 'web' || role === 'all') {
      app = await buildWebApp({ config, adapters, logger: logger.child({ role: 'web' }) });
      url = await app.listen({ port: config.port, host: config.host });
    }
  } catch (error) {
    await worker?.stop();
    await app?.close();
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
        await adapters.close();
      })();
      return stopping;
    },
  };
}
