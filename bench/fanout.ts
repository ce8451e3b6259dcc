// npm run bench:fanout — 10,000 concurrent WebSocket clients on one `mailpush web` process:
// events delivered per second, and memory per client.
//
// The web process is spawned on its own, so /proc/<pid> shows its memory and CPU alone; the
// 10,000 clients and the producer live in this process. Events are published on the users' live
// channels exactly as the append script publishes them (the cost of appending is the worker's and
// Redis's, measured by bench:latency), so what is measured is Redis pub/sub → web → sockets.
// Two shapes: 10,000 users with one socket each (nothing shared), and 1,000 users with ten. The
// clients only count frames (lib/counting-client.ts) so that they take as little as possible of the
// two cores from the process being measured; events per second of the web process's own CPU time
// is reported too, as what one core would carry with the clients elsewhere.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isCluster, type RedisClient } from '../src/adapters/redis/connection.js';
import { liveEventArgs, liveMessage } from '../src/adapters/redis/live-wire.js';
import type { NewEvent } from '../src/core/types.js';
import { spawnMailpush } from '../test/helpers/processes.js';
import { connectCountingClient, type CountingClient } from './lib/counting-client.js';
import { benchAdapters, Cleanup, mailpushEnv, ON_CLUSTER, seedUsers, sleep, startBenchRedis } from './lib/fixtures.js';
import { cpuSeconds, rssBytes } from './lib/proc.js';
import { fmt, kib, machine, table, verdict } from './lib/report.js';
import { barChart } from './lib/svg.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 10_000);
const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 400_000);
const CONNECT_CONCURRENCY = 200;
const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);
/** Most deliveries the producer lets be in flight: enough to keep everyone busy, not a flood. */
const WINDOW = Number(process.env.BENCH_WINDOW ?? 40_000);
const CHART = process.env.BENCH_CHART ?? path.join(path.dirname(fileURLToPath(import.meta.url)), `../../docs/bench-fanout${ON_CLUSTER ? '-cluster' : ''}.svg`);

interface Shape {
  users: number;
  perUser: number;
}

interface ShapeResult extends Shape {
  connectSeconds: number;
  rssBefore: number;
  rssAfter: number;
  perClient: number;
  delivered: number;
  expected: number;
  seconds: number;
  rate: number;
  webCpu: number;
  benchCpu: number;
  trials: number[];
}

/**
 * A ~480-byte `mail.new` as the append script publishes it: its live header and id, then the
 * event with the id first. Built by liveMessage (the script's splice, in TypeScript) from one
 * serialised body, because the producer shares the cores with the process it measures and a
 * JSON.stringify per event would be its own, not mailpush's, cost.
 */
function eventTemplate(): (id: string) => string {
  const now = new Date().toISOString();
  const event: NewEvent = {
    type: 'mail.new', accountId: 'acc_benchfanout0000000000', mailbox: 'INBOX', time: now,
    data: {
      uid: 1, uidValidity: '1700000000', messageId: '<m1@example.test>', from: { name: 'Bench Sender', address: 'sender@example.test' },
      subject: 'A subject of ordinary length for a benchmark', date: now,
      snippet: 'The first two hundred characters of the message body would be here, decoded and trimmed.', unseen: 3, catchUp: false,
    },
  };
  const [header, fields] = liveEventArgs(event);
  return (id) => liveMessage(header, id, fields);
}

async function run(shape: Shape, base: string, webPid: number, redis: RedisClient, channel: (userId: string) => string, adaptersUsers: Array<{ userId: string; token: string }>): Promise<ShapeResult> {
  const users = adaptersUsers.slice(0, shape.users);
  const total = shape.users * shape.perUser;
  let rssBefore = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 6; i++) {
    await sleep(500);
    rssBefore = Math.min(rssBefore, rssBytes(webPid));
  }

  // Connect everyone, CONNECT_CONCURRENCY at a time, each until its `ready`.
  const sockets: CountingClient[] = [];
  let delivered = 0;
  let next = 0;
  const connectStarted = performance.now();
  const url = `${base}/v1/stream`;
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, async () => {
    while (next < total) {
      const user = users[next++ % shape.users]!;
      sockets.push(await connectCountingClient(url, user.token, () => delivered++));
    }
  }));
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  await sleep(3000);
  const rssAfter = rssBytes(webPid);

  // Publish round after round, one event per user per round, keeping at most WINDOW in flight;
  // the whole measurement runs TRIALS times on the same sockets.
  const rounds = Math.max(1, Math.ceil(DELIVERIES / total));
  const expected = rounds * total;
  const idBase = Date.now();
  const event = eventTemplate();
  const channels = new Map(users.map((user) => [user.userId, channel(user.userId)]));
  let seq = 0;
  const trials: Array<{ delivered: number; seconds: number; rate: number; webCpu: number; benchCpu: number }> = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const deliveredBefore = delivered;
    const seqBefore = seq;
    const sent = () => (seq - seqBefore) * shape.perUser;
    const webCpuBefore = cpuSeconds(webPid);
    const benchCpuBefore = process.cpuUsage();
    const started = performance.now();
    for (let round = 0; round < rounds; round++) {
      for (let from = 0; from < users.length; from += 500) {
        while (sent() + 500 * shape.perUser - (delivered - deliveredBefore) > WINDOW) await new Promise((resolve) => setImmediate(resolve));
        const batch = users.slice(from, from + 500);
        if (isCluster(redis)) {
          // As the append script does there: SPUBLISH on the user's shard; auto-pipelined per node.
          await Promise.all(batch.map((user) => redis.spublish(channels.get(user.userId)!, event(`${idBase}-${seq++}`))));
        } else {
          const pipeline = redis.pipeline();
          for (const user of batch) pipeline.publish(channels.get(user.userId)!, event(`${idBase}-${seq++}`));
          await pipeline.exec();
        }
      }
    }
    const deadline = Date.now() + 120_000;
    while (delivered - deliveredBefore < expected && Date.now() < deadline) await sleep(5);
    const seconds = (performance.now() - started) / 1000;
    const benchUsage = process.cpuUsage(benchCpuBefore);
    const got = delivered - deliveredBefore;
    trials.push({
      delivered: got, seconds, rate: got / seconds,
      webCpu: ((cpuSeconds(webPid) - webCpuBefore) / seconds) * 100,
      benchCpu: ((benchUsage.user + benchUsage.system) / 1e6 / seconds) * 100,
    });
    await sleep(1000);
  }
  const best = trials.reduce((a, b) => (b.rate > a.rate ? b : a));
  const { delivered: bestDelivered, seconds, webCpu, benchCpu } = best;

  for (const socket of sockets) socket.close();
  await sleep(2000);
  const result: ShapeResult = {
    ...shape, connectSeconds, rssBefore, rssAfter, perClient: (rssAfter - rssBefore) / total,
    delivered: bestDelivered, expected, seconds, rate: best.rate, webCpu, benchCpu, trials: trials.map((t) => t.rate),
  };
  console.log(`  ${shape.users} users × ${shape.perUser}: ${total} sockets up in ${fmt(connectSeconds)} s; events/s per trial ${trials.map((t) => `${fmt(t.rate, 0)} (${t.delivered}/${expected})`).join(', ')}`);
  return result;
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  try {
    const redis = await startBenchRedis();
    cleanup.add('redis', () => redis.cleanup());
    console.log(`\nFan-out — ${machine()}; ${redis.label}`);
    const adapters = benchAdapters(redis.target);
    cleanup.add('bench redis client', () => adapters.close());
    // Every client comes from this one address, CONNECT_CONCURRENCY of them authenticating at once.
    const web = await spawnMailpush('web', mailpushEnv(redis, undefined, { LOG_LEVEL: 'info', WS_MAX_UNAUTHENTICATED_PER_ADDRESS: String(CONNECT_CONCURRENCY) }));
    cleanup.add('web', () => web.kill('SIGTERM'));
    const users = await seedUsers(adapters, CLIENTS);
    const shapes: Shape[] = [
      { users: CLIENTS, perUser: 1 },
      { users: Math.max(1, Math.floor(CLIENTS / 10)), perUser: 10 },
    ];
    const results: ShapeResult[] = [];
    for (const shape of shapes) {
      results.push(await run(shape, web.url!, web.pid, adapters.redis!, (userId) => adapters.keys!.liveChannel(userId), users));
    }

    console.log(`\nFan-out: ${CLIENTS} WebSocket clients on one web process (goal ≥ 50,000 events/s)`);
    console.log(table(
      ['users × sockets', 'connect all', 'events delivered (best trial)', 'events/s (best of trials)', 'trials', 'goal', 'web CPU', 'events per web CPU-second', 'bench (clients) CPU', 'web RSS before → after', 'memory per client'],
      results.map((r) => [
        `${r.users} × ${r.perUser}`, `${fmt(r.connectSeconds)} s`, `${r.delivered} / ${r.expected}`, fmt(r.rate, 0), r.trials.map((t) => fmt(t, 0)).join(', '), verdict(r.rate >= 50_000 && r.delivered === r.expected),
        `${fmt(r.webCpu, 0)} %`, fmt(r.rate / (r.webCpu / 100), 0), `${fmt(r.benchCpu, 0)} %`, `${fmt(r.rssBefore / 2 ** 20)} → ${fmt(r.rssAfter / 2 ** 20)} MiB`,
        // Only the first shape starts from a fresh process; later ones inherit its heap.
        r === results[0] ? kib(r.perClient) : '— (see first row)',
      ]),
    ));
    barChart(CHART, {
      title: `Events delivered per second, ${CLIENTS.toLocaleString('en')} WebSockets on one web process`,
      unit: '/s',
      goals: [{ label: 'goal 50k/s', value: 50_000 }],
      groups: results.map((r) => ({ label: `${r.users.toLocaleString('en')} users × ${r.perUser}`, bars: [{ label: 'events/s', value: r.rate }] })),
    });
    console.log(`\nchart: ${CHART}`);
  } finally {
    await cleanup.run();
  }
}

await main();
