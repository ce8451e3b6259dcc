// npm run bench:latency — how long after LMTP delivery a new mail reaches a WebSocket and the
// push service, against a raw imapflow client IDLE-ing on the same mailbox of the same Dovecot in
// the same run. Dovecot waits about half a second before it announces EXISTS to anyone; what
// mailpush adds on top of that is its overhead: mailpush − raw, per message.
//
// Two scenarios: the worker holds just the measured accounts, then 1,000 accounts (the others
// IDLE and silent). With Dovecot's push_notification plugin (contrib/dovecot/; BENCH_DOVECOT_PUSH=0
// leaves it out) two accounts are measured on every delivery: one opted in, whose worker Dovecot's
// hint wakes, and one IDLE only; the same raw IDLE client is the baseline of both. mailpush runs as separate `worker` and `web` processes against Redis, as in
// production; the raw client, the WebSocket client and the push service live in this process, so
// every timestamp comes from one clock. With Dovecot push the worker runs at LOG_LEVEL=trace and
// reports each hint's stages (bench/lib/hint-stages.ts; BENCH_TRACE=0 leaves it at info), printed
// after the goal table. Not a test: numbers only.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImapFlow } from 'imapflow';
import WebSocket from 'ws';
import { hashToken } from '../src/core/tokens.js';
import { generateVapidKeys } from '../src/push/vapid.js';
import { api } from '../test/helpers/gateway.js';
import type { DovecotUser } from '../test/helpers/dovecot.js';
import { buildMessage } from '../test/helpers/message.js';
import { spawnMailpush } from '../test/helpers/processes.js';
import { BENCH_TRANSPORT, benchAdapters, Cleanup, countInState, mailpushEnv, ON_CLUSTER, randomName, seedAccounts, sleep, startBenchDovecot, startBenchRedis, waitUntil } from './lib/fixtures.js';
import { cpuPercent, cpuSeconds, rssBytes } from './lib/proc.js';
import { startPushService } from '../test/helpers/push-service.js';
import { fmt, machine, table, verdict } from './lib/report.js';
import { summarize, type Summary } from './lib/stats.js';
import { barChart } from './lib/svg.js';
import { drawDovecotPushChart, printDovecotPushGoal } from './lib/dovecot-push-report.js';
import { findTrace, printHintStages, rebase, type StagedSample } from './lib/hint-stages.js';
import type { HintTrace } from '../src/roles/worker/hint-follower.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 100);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 1000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5);
const EARLY_MS = 500;
const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 1000);
const TIMEOUT_MS = 10_000;
const CHART = process.env.BENCH_CHART ?? path.join(path.dirname(fileURLToPath(import.meta.url)), `../../docs/bench-latency${ON_CLUSTER ? '-cluster' : ''}.svg`);
const PUSH_CHART = process.env.BENCH_PUSH_CHART ?? path.join(path.dirname(fileURLToPath(import.meta.url)), `../../docs/bench-latency-dovecot-push${ON_CLUSTER ? '-cluster' : ''}.svg`);
const DOVECOT_PUSH = process.env.BENCH_DOVECOT_PUSH !== '0';
const HOOK_SECRET = 'bench-hook-secret-0123456789';
/** The worker at LOG_LEVEL=trace reports each hint's stage times (printHintStages); BENCH_TRACE=0 leaves it at info. */
const TRACE = DOVECOT_PUSH && process.env.BENCH_TRACE !== '0';

export interface Sample {
  lmtp: number;
  raw: number;
  /** When the worker saw the EXISTS: the event's `time`, which the worker stamps then (1 ms resolution). */
  workerExists: number;
  ws: number;
  push: number;
  /** With Dovecot push and BENCH_TRACE: the worker's stage times of this delivery's hint. */
  trace?: HintTrace;
}

export interface ScenarioResult {
  label: string;
  /** Dovecot's push_notification was on (the hook woke the worker), not IDLE alone. */
  dovecotPush: boolean;
  samples: Sample[];
  lost: { raw: number; ws: number; push: number };
  workerCpu: number;
}

/** Resolves with the time `predicate` first holds after an arrival, or NaN after `ms`. */
class Arrivals<T> {
  private readonly waiters = new Set<{ match: (item: T) => boolean; resolve: (at: number) => void }>();

  push(item: T, at: number): void {
    for (const waiter of this.waiters) {
      if (waiter.match(item)) {
        this.waiters.delete(waiter);
        waiter.resolve(at);
      }
    }
  }

  next(match: (item: T) => boolean, ms: number): Promise<number> {
    return new Promise((resolve) => {
      const waiter = {
        match,
        resolve: (at: number) => {
          clearTimeout(timer);
          resolve(at);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(Number.NaN);
      }, ms);
      this.waiters.add(waiter);
    });
  }
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  try {
    console.log(`\nLatency — ${machine()}`);
    console.log(`  the worker over ${BENCH_TRANSPORT === 'tls' ? 'TLS (a test CA, verification on; the raw reference client stays on the plaintext port)' : 'plaintext IMAP'}`);
    const { dovecot, users } = await startBenchDovecot(ACCOUNTS + 1, { prefix: 'lat', pushNotification: DOVECOT_PUSH });
    cleanup.add('dovecot', () => dovecot.cleanup());
    const redis = await startBenchRedis();
    cleanup.add('redis', () => redis.cleanup());
    console.log(`  ${redis.label}`);
    // The tests' push service: it checks VAPID and decrypts too, but stamps each push on arrival first.
    const receiver = await startPushService();
    cleanup.add('push service', () => receiver.close());
    const vapid = generateVapidKeys();
    const env = mailpushEnv(redis, dovecot, {
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: 'mailto:bench@example.test',
      PUSH_ALLOW_PRIVATE_ENDPOINTS: 'true',
      NODE_EXTRA_CA_CERTS: receiver.caFile,
      ...(DOVECOT_PUSH ? { DOVECOT_PUSH_SECRET: HOOK_SECRET, DOVECOT_PUSH_HOSTS: dovecot.host } : {}),
    });
    const worker = await spawnMailpush('worker', TRACE ? { ...env, LOG_LEVEL: 'trace' } : env);
    cleanup.add('worker', () => worker.kill('SIGTERM'));
    const web = await spawnMailpush('web', env);
    cleanup.add('web', () => web.kill('SIGTERM'));
    const base = web.url!;
    if (DOVECOT_PUSH) {
      // Known only now; set once, before any IDLE session opens (a later reload would leave the
      // sessions opened before it in imap processes of the old configuration).
      const hookUrl = new URL(`${base}/v1/hooks/dovecot?host=${dovecot.host}`);
      hookUrl.username = 'dovecot';
      hookUrl.password = HOOK_SECRET;
      await dovecot.setPushNotificationUrl(hookUrl.toString());
    }
    const adapters = benchAdapters(redis.target);
    cleanup.add('bench redis client', () => adapters.close());

    // Each measured account goes through the API like a real one (its login is proved), with its
    // own user, stream and push subscription. With Dovecot push, two of them get every delivery:
    // one opted in (Dovecot tells the hook), one whose http-notify METADATA is removed again once
    // its worker set it (IDLE only), so both paths are measured on the same messages.
    // The raw client watches a mailbox of its own that gets the same delivery (one LMTP
    // transaction, its recipients' order rotating): two IDLE sessions of one user in one
    // shared imap process would take each other's inotify watch (see docs/benchmarks.md).
    const [rawUser, measured, idleOnly] = users as [DovecotUser, DovecotUser, DovecotUser];
    const pushArrivals = new Map<string, Arrivals<number>>();
    const pushCounts = new Map<string, number>();
    receiver.onReceived((push) => {
      const count = (pushCounts.get(push.name) ?? 0) + 1;
      pushCounts.set(push.name, count);
      pushArrivals.get(push.name)?.push(count, push.arrivedAt);
    });
    async function watchAccount(user: DovecotUser, name: string, optedIn: boolean) {
      const created = await api(base, 'POST', '/v1/accounts', { body: { imap: { user: user.user, pass: user.pass } } });
      if (created.status !== 201) throw new Error(`registration failed: ${created.status} ${JSON.stringify(created.body)}`);
      const token = created.body.token as string;
      const sub = await api(base, 'POST', '/v1/push/subscriptions', { token, body: { subscription: receiver.subscribe(name), preview: 'full' } });
      if (sub.status !== 201) throw new Error(`push subscription failed: ${sub.status} ${JSON.stringify(sub.body)}`);
      pushArrivals.set(name, new Arrivals<number>());
      const ref = { userId: (await adapters.users.findByToken(hashToken(token)))!, accountId: created.body.account.id as string };
      await waitUntil(async () => (await countInState(adapters, [ref], 'idle')) === 1, 20_000, `${name} to IDLE`);
      if (DOVECOT_PUSH) {
        const key = '/private/vendor/vendor.dovecot/http-notify';
        const metadata = () => dovecot.serverMetadata(user.user, key);
        await waitUntil(async () => (await metadata()) !== undefined, 20_000, `${name}'s http-notify METADATA`);
        if (!optedIn) await dovecot.doveadm(['mailbox', 'metadata', 'unset', '-s', '-u', user.user, '', key]);
      }
      const ws = new Arrivals<string>();
      // The event's `time` (wall clock, ms) on the same timeline as performance.now().
      const existsAt = new Map<string, number>();
      const socket = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/stream`, { headers: { authorization: `Bearer ${token}` } });
      cleanup.add(`${name} websocket`, () => socket.terminate());
      await new Promise<void>((resolve, reject) => {
        socket.on('message', (data) => {
          const at = performance.now();
          const message = JSON.parse(data.toString()) as { type: string; time?: string; data?: { subject?: string } };
          if (message.type === 'ready') resolve();
          if (message.type === 'mail.new') {
            existsAt.set(message.data?.subject ?? '', Date.parse(message.time ?? '') - performance.timeOrigin);
            ws.push(message.data?.subject ?? '', at);
          }
        });
        socket.once('error', reject);
      });
      return { name, user, ref, ws, existsAt, pushes: pushArrivals.get(name)! };
    }
    const watched = [await watchAccount(measured, 'lat', true)];
    if (DOVECOT_PUSH) watched.push(await watchAccount(idleOnly, 'lat-idle', false));

    const rawArrivals = new Arrivals<number>();
    const raw = new ImapFlow({
      host: dovecot.host, port: dovecot.imapPort, secure: false, doSTARTTLS: false,
      auth: { user: rawUser.user, pass: rawUser.pass }, logger: false, autoIdleDelay: 0, disableCompression: true,
    });
    raw.on('error', () => undefined);
    raw.on('exists', (event: { count: number }) => rawArrivals.push(event.count, performance.now()));
    await raw.connect();
    cleanup.add('raw imap client', () => raw.logout().catch(() => raw.close()));
    let mailboxCount = (await raw.mailboxOpen('INBOX')).exists;

    let flip = 0;
    /** One delivery to the raw client's mailbox and every watched one: a Sample per watched account. */
    async function sample(label: string): Promise<Sample[]> {
      const subject = `latency ${label} ${randomName()}`;
      const expectedCount = ++mailboxCount;
      const rawAt = rawArrivals.next((count) => count >= expectedCount, TIMEOUT_MS);
      const waits = watched.map((w) => {
        const expectedPushes = (pushCounts.get(w.name) ?? 0) + 1;
        return Promise.all([w.ws.next((x) => x === subject, TIMEOUT_MS), w.pushes.next((count) => count >= expectedPushes, TIMEOUT_MS)]);
      });
      const recipients = [rawUser.email, ...watched.map((w) => w.user.email)];
      const shift = flip++ % recipients.length;
      const message = buildMessage({ from: { name: 'Bench Sender', address: 'sender@example.test' }, to: measured.email, subject, body: 'A short body for the latency benchmark.' });
      const t0 = performance.now();
      await dovecot.deliver([...recipients.slice(shift), ...recipients.slice(0, shift)], message);
      const delivered = performance.now();
      const tRaw = await rawAt;
      const arrivals = await Promise.all(waits);
      const epoch = (at: number) => performance.timeOrigin + at;
      return watched.map((w, i) => {
        const found = TRACE && Number.isFinite(arrivals[i]![0]) ? findTrace(worker.logs, w.ref.accountId, epoch(t0), epoch(arrivals[i]![0])) : undefined;
        const trace = found ? rebase(found, epoch(t0)) : undefined;
        return {
          lmtp: delivered - t0, raw: tRaw - t0, workerExists: (w.existsAt.get(subject) ?? Number.NaN) - t0, ws: arrivals[i]![0] - t0, push: arrivals[i]![1] - t0,
          ...(trace ? { trace } : {}),
        };
      });
    }

    /** Per watched account: with Dovecot push the opted-in one first, then the IDLE-only one. */
    async function scenario(accounts: string): Promise<ScenarioResult[]> {
      for (let i = 0; i < WARMUP; i++) await sample(`${accounts} warm-up`);
      const perAccount: Sample[][] = watched.map(() => []);
      const cpuBefore = cpuSeconds(worker.pid);
      const started = performance.now();
      for (let i = 0; i < SAMPLES; i++) {
        const taken = await sample(accounts);
        taken.forEach((one, n) => perAccount[n]!.push(one));
        if (process.env.BENCH_DEBUG) console.log(JSON.stringify(taken));
        // Spread the deliveries so none lines up with a timer of Dovecot's or ours.
        await sleep(GAP_MS + Math.random() * 300);
      }
      const workerCpu = ((cpuSeconds(worker.pid) - cpuBefore) / ((performance.now() - started) / 1000)) * 100;
      return perAccount.map((samples, n) => {
        const dovecotPush = DOVECOT_PUSH && n === 0;
        const label = `${accounts}, ${dovecotPush ? 'Dovecot push' : 'IDLE'}`;
        const lost = {
          raw: samples.filter((x) => Number.isNaN(x.raw)).length,
          ws: samples.filter((x) => Number.isNaN(x.ws)).length,
          push: samples.filter((x) => Number.isNaN(x.push)).length,
        };
        process.stdout.write(`  ${label}: ${SAMPLES} samples, lost raw/ws/push ${lost.raw}/${lost.ws}/${lost.push}\n`);
        return { label, dovecotPush, samples, lost, workerCpu };
      });
    }

    const results: ScenarioResult[] = [];
    results.push(...(await scenario(watched.length === 1 ? '1 account' : `${watched.length} accounts`)));

    // The other accounts: seeded straight into Redis, then the worker is asked to claim them.
    const others = await seedAccounts(adapters, dovecot, users.slice(1 + watched.length));
    const claimStarted = performance.now();
    await adapters.control.publish({ kind: 'rebalance', from: 'bench' });
    const all = [...watched.map((w) => w.ref), ...others];
    await waitUntil(async () => (await countInState(adapters, all, 'idle')) === all.length, 300_000, `${all.length} accounts to IDLE`, 500);
    const upSeconds = (performance.now() - claimStarted) / 1000;
    console.log(`  ${all.length} accounts IDLE after ${fmt(upSeconds)} s; worker RSS ${fmt(rssBytes(worker.pid) / 2 ** 20)} MiB, idle CPU ${fmt(await cpuPercent(worker.pid, 3000))} %`);
    await sleep(2000);
    results.push(...(await scenario(`${all.length.toLocaleString('en')} accounts`)));

    print(results.filter((r) => !r.dovecotPush));
    drawChart(results.filter((r) => !r.dovecotPush));
    if (DOVECOT_PUSH) {
      printDovecotPushGoal(results);
      // Samples and their traces count from the LMTP start.
      const staged = (r: ScenarioResult): StagedSample[] => r.samples.map((x) => ({ lmtpStart: 0, wsAt: x.ws, ...(x.trace ? { trace: x.trace } : {}) }));
      for (const r of results.filter((x) => x.dovecotPush)) printHintStages(r.label, staged(r));
      drawDovecotPushChart(PUSH_CHART, results);
    }
  } finally {
    await cleanup.run();
  }
}

function finite(values: number[]): number[] {
  return values.filter(Number.isFinite);
}

function print(results: ScenarioResult[]): void {
  const rows: Array<Array<string | number>> = [];
  const overheads: Array<{ label: string; ws: Summary; push: Summary }> = [];
  for (const r of results) {
    const s = (pick: (x: Sample) => number) => summarize(finite(r.samples.map(pick)));
    const line = (what: string, sum: Summary) => rows.push([r.label, what, sum.n, fmt(sum.p50), fmt(sum.p95), fmt(sum.p99), fmt(sum.max)]);
    line('LMTP transaction', s((x) => x.lmtp));
    line('raw imapflow EXISTS', s((x) => x.raw));
    line('mailpush WebSocket', s((x) => x.ws));
    line('mailpush Web Push', s((x) => x.push));
    line('overhead WebSocket (ws − raw), all samples', s((x) => x.ws - x.raw));
    line('overhead Web Push (push − raw), all samples', s((x) => x.push - x.raw));
    // A raw EXISTS sooner than Dovecot's 500 ms notify delay means that session's timer was
    // already running from an earlier change: the baseline, not mailpush, was off for that sample.
    const clean = (pick: (x: Sample) => number) => summarize(finite(r.samples.filter((x) => x.raw >= EARLY_MS).map(pick)));
    const ws = clean((x) => x.ws - x.raw);
    const push = clean((x) => x.push - x.raw);
    line(`**overhead WebSocket** (ws − raw), raw ≥ ${EARLY_MS} ms`, ws);
    line(`**overhead Web Push** (push − raw), raw ≥ ${EARLY_MS} ms`, push);
    // The overhead in two parts: Dovecot telling the worker's session later than the raw client's
    // (two mailboxes, two notify timers), and mailpush's own path from the worker's EXISTS on.
    line(`of which Dovecot: worker's EXISTS − raw's, raw ≥ ${EARLY_MS} ms`, clean((x) => x.workerExists - x.raw));
    line('of which mailpush: ws − worker\'s EXISTS (±1 ms)', s((x) => x.ws - x.workerExists));
    overheads.push({ label: r.label, ws, push });
  }
  console.log(`\nLatency after LMTP delivery (ms), ${SAMPLES} messages per scenario, one at a time`);
  console.log(table(['accounts on the worker', 'path', 'n', 'p50', 'p95', 'p99', 'max'], rows));
  // The goal is for mailpush's overhead on either path: the socket and the push service.
  console.log('\nGoal: overhead p50 ≤ 5 ms, p99 ≤ 25 ms, for the WebSocket and for Web Push');
  const meets = (sum: Summary) => sum.p50 <= 5 && sum.p99 <= 25;
  console.log(table(['accounts on the worker', 'path', 'samples (raw ≥ 500 ms)', 'overhead p50', 'overhead p95', 'overhead p99', 'goal', 'worker CPU during run'], results.flatMap((r, i) => {
    const o = overheads[i]!;
    return ([['WebSocket', o.ws], ['Web Push', o.push]] as const).map(([path, sum]) => [
      r.label, path, `${sum.n} of ${r.samples.length}`, `${fmt(sum.p50)} ms`, `${fmt(sum.p95)} ms`, `${fmt(sum.p99)} ms`, verdict(meets(sum)), `${fmt(r.workerCpu)} %`,
    ]);
  })));
}

function drawChart(results: ScenarioResult[]): void {
  barChart(CHART, {
    title: 'mailpush overhead over a raw IMAP IDLE client (ms, lower is better)',
    unit: 'ms',
    goals: [{ label: 'p50 goal 5 ms', value: 5 }, { label: 'p99 goal 25 ms', value: 25 }],
    groups: results.map((r) => {
      const clean = r.samples.filter((x) => x.raw >= EARLY_MS);
      const ws = summarize(finite(clean.map((x) => x.ws - x.raw)));
      const push = summarize(finite(clean.map((x) => x.push - x.raw)));
      return {
        label: r.label,
        bars: [
          { label: 'WebSocket p50', value: ws.p50 },
          { label: 'WebSocket p99', value: ws.p99 },
          { label: 'Web Push p50', value: push.p50 },
          { label: 'Web Push p99', value: push.p99 },
        ],
      };
    }),
  });
  console.log(`\nchart: ${CHART}`);
}

await main();
