// npm run bench:hook-burst — the Dovecot hook under a burst of deliveries: Dovecot waits for the
// hook's answer inside each LMTP delivery, so the hook must answer at once however far the worker
// is behind. Delivers BENCH_DELIVERIES (1,000) messages to one opted-in account over
// BENCH_CONCURRENCY (20) LMTP connections at once, with separate `web` and `worker` processes on
// Redis, and reports the hook's answer times (Fastify's responseTime, server side, from the web
// process's log), the LMTP transactions, and when the worker had caught up. Dovecot and the LMTP
// sender run on one half of the cores, mailpush and Redis on the other (lib/cpu-split.ts says
// why; BENCH_CPU_SPLIT=0 shares them). Not a test.

import { hashToken } from '../src/core/tokens.js';
import { api } from '../test/helpers/gateway.js';
import { buildMessage } from '../test/helpers/message.js';
import { spawnMailpush } from '../test/helpers/processes.js';
import { RECOMMENDED_REDIS_ARGS, startRedis } from '../test/helpers/redis.js';
import { splitCpus } from './lib/cpu-split.js';
import { dovecotMaster } from './lib/proc.js';
import { benchAdapters, Cleanup, mailpushEnv, startBenchDovecot, waitUntil } from './lib/fixtures.js';
import { fmt, machine, table } from './lib/report.js';
import { summarize } from './lib/stats.js';

const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 20);
const SECRET = 'bench-hook-secret-0123456789';

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  try {
    console.log(`\nDovecot hook under a burst — ${machine()}`);
    const { dovecot, users } = await startBenchDovecot(1, { prefix: 'burst', pushNotification: true });
    cleanup.add('dovecot', () => dovecot.cleanup());
    const redis = await startRedis({ args: RECOMMENDED_REDIS_ARGS });
    cleanup.add('redis', () => redis.cleanup());
    const env = mailpushEnv(redis.url, dovecot, { DOVECOT_PUSH_SECRET: SECRET, DOVECOT_PUSH_HOSTS: dovecot.host });
    const worker = await spawnMailpush('worker', env);
    cleanup.add('worker', () => worker.kill('SIGTERM'));
    const web = await spawnMailpush('web', env);
    cleanup.add('web', () => web.kill('SIGTERM'));
    const hookUrl = new URL(`${web.url!}/v1/hooks/dovecot?host=${dovecot.host}`);
    hookUrl.username = 'dovecot';
    hookUrl.password = SECRET;
    await dovecot.setPushNotificationUrl(hookUrl.toString());

    const user = users[0]!;
    const created = await api(web.url!, 'POST', '/v1/accounts', { body: { imap: { user: user.user, pass: user.pass } } });
    if (created.status !== 201) throw new Error(`registration failed: ${created.status} ${JSON.stringify(created.body)}`);
    const adapters = benchAdapters(redis.url);
    cleanup.add('bench redis client', () => adapters.close());
    const ref = { userId: (await adapters.users.findByToken(hashToken(created.body.token as string)))!, accountId: created.body.account.id as string };
    await waitUntil(async () => (await dovecot.serverMetadata(user.user, '/private/vendor/vendor.dovecot/http-notify')) !== undefined, 20_000, 'http-notify METADATA');
    await waitUntil(async () => (await adapters.eventLog.watermark(ref, 'INBOX')) !== undefined, 20_000, 'the watcher to start');

    const redisPid = Number(/process_id:(\d+)/.exec(await adapters.redis!.info('server'))?.[1]);
    const cpus = splitCpus({ mailServerGroups: [dovecotMaster(dovecot.dir)], mailServerPids: [process.pid], gatewayPids: [web.pid, worker.pid, redisPid] });
    console.log(`  ${cpus}`);

    const logsBefore = web.logs.length;
    const lmtp: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < DELIVERIES; i = next++) {
        const t0 = performance.now();
        await dovecot.deliver(user.email, buildMessage({ from: { name: 'Burst', address: 'burst@example.test' }, to: user.email, subject: `burst ${i}`, body: 'A burst.' }));
        lmtp.push(performance.now() - t0);
      }
    }));
    const burstMs = performance.now() - started;
    await waitUntil(async () => (await adapters.eventLog.watermark(ref, 'INBOX'))?.lastUid === DELIVERIES, 120_000, 'the worker to catch up', 20);
    const caughtUpMs = performance.now() - started;

    const answers = web.logs.slice(logsBefore)
      .filter((l) => (l.req as { url?: string } | undefined)?.url?.startsWith('/v1/hooks/dovecot') || (l.res as { statusCode?: number } | undefined)?.statusCode === 204)
      .map((l) => l.responseTime)
      .filter((t): t is number => typeof t === 'number');
    const hook = summarize(answers);
    const tx = summarize(lmtp);
    console.log(`\n${DELIVERIES} deliveries over ${CONCURRENCY} LMTP connections in ${fmt(burstMs / 1000, 2)} s; the worker had notified all of them ${fmt(caughtUpMs / 1000, 2)} s after the burst began`);
    console.log(table(['what (ms)', 'n', 'p50', 'p95', 'p99', 'max'], [
      ['hook answer (server side)', hook.n, fmt(hook.p50, 2), fmt(hook.p95, 2), fmt(hook.p99, 2), fmt(hook.max, 2)],
      ['LMTP transaction (client side)', tx.n, fmt(tx.p50), fmt(tx.p95), fmt(tx.p99), fmt(tx.max)],
    ]));
    console.log(`\nGoal: hook answer p99 < 5 ms during the burst: ${hook.p99 < 5 ? 'met' : '**missed**'}`);
  } finally {
    await cleanup.run();
  }
}

await main();
