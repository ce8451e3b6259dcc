// npm run bench:scale — 10,000 accounts IDLE-ing on one worker process against one Dovecot:
// resident memory per account, how long it takes to bring them all up under the per-host login
// limit (and again after a worker restart), CPU while idle, and Redis memory per account.
//
// The worker is a separate `mailpush worker` process, so /proc/<pid> shows its memory and CPU
// alone. Accounts are written straight into Redis through the adapters (what POST /v1/accounts
// stores, without its IMAP login check, which would log every mailbox in twice), then the worker is
// asked to rebalance and claims them. Not a test: numbers only.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from '../src/adapters/redis/connection.js';
import { findJemalloc, WORKER_JEMALLOC_CONF, WORKER_NODE_OPTIONS } from '../src/observability/malloc.js';
import { spawnMailpush, type MailpushProcess } from '../test/helpers/processes.js';
import type { Adapters } from '../src/adapters/adapters.js';
import { RECOMMENDED_REDIS_ARGS, startRedis } from '../test/helpers/redis.js';
import { buildMessage } from '../test/helpers/message.js';
import { hashToken } from '../src/core/tokens.js';
import type { RedisKeys } from '../src/keys.js';
import { BENCH_SERVER_MAILBOXES, BENCH_TRANSPORT, benchAdapters, createServerMailboxes, Cleanup, countInState, mailpushEnv, notInState, seedAccounts, sleep, startBenchDovecot, type SeededAccount } from './lib/fixtures.js';
import { cpuPercent, cpuSplit, dovecotMaster, groupUsage, machineCpuSeconds, rssBytes, syscallCounts, tcpKeepaliveProbes, threadCpuSeconds } from './lib/proc.js';
import { fmt, kib, machine, table, verdict } from './lib/report.js';
import { lineChart } from './lib/svg.js';

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 10_000);
const CONNECT_CONCURRENCY = Number(process.env.BENCH_CONNECT_CONCURRENCY ?? 20);
const UP_TIMEOUT_MS = Number(process.env.BENCH_UP_TIMEOUT_SECONDS ?? 420) * 1000;
/** Long enough to average over V8's major collections, which take 2–3 % of a core while they run. */
const IDLE_WINDOW_MS = Number(process.env.BENCH_IDLE_SECONDS ?? 120) * 1000;
/** Between the last account IDLE and the idle window (see where it is used). */
const SETTLE_MS = 30_000;
/** Dovecot's imap-hibernate, off by default: see docs/benchmarks.md for why. */
const HIBERNATE = process.env.BENCH_HIBERNATE === '1';
/** Also time a worker restart against mailboxes that exist (BENCH_RESTART=0: skip it). */
const RESTART = process.env.BENCH_RESTART !== '0';
/** jemalloc's path when the worker runs on it: BENCH_WORKER_MALLOC=jemalloc (the default, as the Docker image) or glibc. */
const WORKER_JEMALLOC = (() => {
  const choice = process.env.BENCH_WORKER_MALLOC ?? 'jemalloc';
  if (choice === 'glibc') return undefined;
  const found = findJemalloc();
  if (choice !== 'jemalloc' || !found) throw new Error(`BENCH_WORKER_MALLOC must be jemalloc (installed: ${found ?? 'no; Debian: apt-get install libjemalloc2'}) or glibc, got "${choice}"`);
  return found;
})();
/** jemalloc's settings for the worker: docker-compose's, or BENCH_WORKER_MALLOC_CONF (empty for jemalloc's defaults). */
const WORKER_MALLOC_CONF = process.env.BENCH_WORKER_MALLOC_CONF ?? WORKER_JEMALLOC_CONF;
/** V8 options for the worker alone: docker-compose's, or BENCH_WORKER_NODE_OPTIONS (empty for V8's defaults). */
const WORKER_V8_OPTIONS = process.env.BENCH_WORKER_NODE_OPTIONS ?? WORKER_NODE_OPTIONS;
const CHART = process.env.BENCH_CHART ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '../../docs/bench-scale.svg');

/** The numeric fields of one INFO section of Redis, by name (0 for a field it does not report). */
async function redisInfo(redis: RedisClient, section: string): Promise<(field: string) => number> {
  const info = await redis.info(section);
  return (field) => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
}

/** Calls so far of each Redis command (INFO commandstats), by command name. */
async function redisCommandCalls(redis: RedisClient): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  return new Map([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map(([, name, calls]) => [name!, Number(calls)]));
}

/**
 * The Redis commands of the bring-up per account, most frequent first: what each claim and login
 * costs Redis (and the worker a write each, where nothing batches them). The bench's own poll of
 * the accounts' states is in it as `hget`, one per account not yet IDLE each second.
 */
function commandsPerAccount(before: Map<string, number>, after: Map<string, number>, accounts: number): string {
  const perAccount = [...after].map(([name, calls]) => [name, (calls - (before.get(name) ?? 0)) / Math.max(accounts, 1)] as const)
    .filter(([, calls]) => calls >= 0.01).sort((a, b) => b[1] - a[1]);
  const total = perAccount.reduce((sum, [, calls]) => sum + calls, 0);
  return `${fmt(total, 1)} (${perAccount.map(([name, calls]) => `${name} ${fmt(calls, 2)}`).join(', ')})`;
}

async function redisUsedMemory(redis: RedisClient): Promise<number> {
  return (await redisInfo(redis, 'memory'))('used_memory');
}

/**
 * MEMORY USAGE of every key one account's user owns (found by SCAN, so a key added later is not
 * missed), its token, and its share of the gateway-wide keys, to see where Redis memory per account goes.
 */
async function keyBreakdown(redis: RedisClient, keys: RedisKeys, account: SeededAccount, total: number): Promise<Array<[string, number]>> {
  const usage = async (key: string) => Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
  const userTag = `{u:${account.userId}}`;
  const userKeys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `*${userTag}*`, 'COUNT', 10_000);
    cursor = next;
    userKeys.push(...found);
  } while (cursor !== '0');
  const rows: Array<[string, number]> = [['token → device', await usage(keys.token(hashToken(account.token)))]];
  for (const key of userKeys.sort()) {
    // The user's own keys, named by what follows the user's tag, ids replaced by *.
    const name = key.slice(key.indexOf(userTag) + userTag.length).replace(/(acc|dev)_[A-Za-z0-9_-]+/g, '$1_*') || '(user)';
    rows.push([`user ${name}`, await usage(key)]);
  }
  rows.push(['account registry (share)', Math.round((await usage(keys.accountRegistry())) / total)]);
  rows.push(['mailbox index (share)', Math.round((await usage(keys.mailboxIndex())) / total)]);
  rows.push(['sum', rows.reduce((a, [, v]) => a + v, 0)]);
  return rows;
}

interface MemoryReport {
  memory: NodeJS.MemoryUsage;
  spaces: Record<string, number>;
  /** Each V8 heap space's physical size (its pages in memory, used or not). */
  physical: Record<string, number>;
  resources: Record<string, number>;
  /** [epoch ms, kind, main-thread pause ms] of recent garbage collections (bench/lib/memory-report.ts). */
  gcs: Array<[number, string, number]>;
}

/** The worker's garbage collections between two epoch times, by kind: how many, and their main-thread pauses. */
function gcsBetween(report: MemoryReport, from: number, to: number): string {
  const byKind = new Map<string, [number, number]>();
  for (const [at, kind, ms] of report.gcs) {
    if (at < from || at > to) continue;
    const [count, total] = byKind.get(kind) ?? [0, 0];
    byKind.set(kind, [count + 1, total + ms]);
  }
  return [...byKind].map(([kind, [count, ms]]) => `${count} ${kind} (${fmt(ms, 0)} ms)`).join(', ') || 'none';
}

/** CPU per kind of thread between two threadCpuSeconds() readings `ms` apart, as % of a core, largest first. */
function threadPercent(before: Map<string, number>, after: Map<string, number>, ms: number): Array<readonly [string, number]> {
  return [...after].map(([name, seconds]) => [name, ((seconds - (before.get(name) ?? 0)) / (ms / 1000)) * 100] as const)
    .filter(([, percent]) => percent >= 0.05).sort((a, b) => b[1] - a[1]);
}

/** Asks the worker for its memory report (bench/lib/memory-report.ts) and waits for the file. */
async function memoryReport(pid: number, file: string): Promise<MemoryReport> {
  rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 100 && !existsSync(file); i++) await sleep(100);
  await sleep(100);
  return JSON.parse(readFileSync(file, 'utf8')) as MemoryReport;
}

/** Where the worker's memory per account went between two reports, and what each account holds open. */
function memoryBreakdown(before: MemoryReport, after: MemoryReport, accounts: number): Array<[string, string]> {
  const per = (a: number, b: number) => kib((b - a) / accounts);
  const m0 = before.memory;
  const m1 = after.memory;
  const native0 = m0.rss - m0.heapTotal - m0.external;
  const native1 = m1.rss - m1.heapTotal - m1.external;
  const rows: Array<[string, string]> = [
    ['RSS', per(m0.rss, m1.rss)],
    ['V8 heap used (JS objects)', per(m0.heapUsed, m1.heapUsed)],
    ['V8 heap reserved but free', per(m0.heapTotal - m0.heapUsed, m1.heapTotal - m1.heapUsed)],
    ['external (Buffers, ArrayBuffers, native objects V8 is told of)', per(m0.external, m1.external)],
    ['  of which ArrayBuffers/Buffers', per(m0.arrayBuffers, m1.arrayBuffers)],
    ['rest of RSS (OpenSSL, libuv, malloc, code)', per(native0, native1)],
  ];
  for (const space of ['old_space', 'new_space', 'large_object_space']) {
    rows.push([`  heap ${space}, used / in memory`, `${per(before.spaces[space] ?? 0, after.spaces[space] ?? 0)} / ${per(before.physical[space] ?? 0, after.physical[space] ?? 0)}`]);
  }
  for (const [kind, count] of Object.entries(after.resources).sort((a, b) => b[1] - a[1])) {
    rows.push([`open ${kind} per account`, fmt((count - (before.resources[kind] ?? 0)) / accounts, 2)]);
  }
  return rows;
}

/**
 * Polls once a second until every account has been IDLE (or UP_TIMEOUT_MS): the count and RSS over
 * time. Each poll asks only for the accounts not seen IDLE yet, so the bench takes less of the CPU
 * the bring-up runs on (asking for all 10,000 every second cost it 5–6 % of a core, and Redis some).
 */
async function waitAllIdle(adapters: Adapters, refs: SeededAccount[], pid: number, since: number, rssBefore: number) {
  const progress: Array<[number, number]> = [[0, 0]];
  const memory: Array<[number, number]> = [[0, rssBefore / 2 ** 20]];
  let pending = refs;
  let up = 0;
  while (pending.length > 0 && performance.now() - since < UP_TIMEOUT_MS) {
    await sleep(1000);
    pending = await notInState(adapters, pending, 'idle');
    up = refs.length - pending.length;
    const t = (performance.now() - since) / 1000;
    progress.push([t, up]);
    memory.push([t, rssBytes(pid) / 2 ** 20]);
    if (progress.length % 15 === 0) console.log(`  ${fmt(t, 0)} s: ${up} IDLE, worker RSS ${fmt(rssBytes(pid) / 2 ** 20)} MiB`);
  }
  return { up, progress, memory };
}

/** Redis's own CPU seconds so far (INFO cpu: the server and its background threads). */
async function redisCpuSeconds(redis: RedisClient): Promise<number> {
  const field = await redisInfo(redis, 'cpu');
  return field('used_cpu_sys') + field('used_cpu_user');
}

/** CPU so far of the worker (0 before it exists), Dovecot's processes, Redis, this bench and the whole machine. */
async function cpuReading(workerPid: number | undefined, dovecotPgid: number, redis: RedisClient) {
  const bench = process.cpuUsage();
  const dovecot = groupUsage(dovecotPgid);
  const worker = workerPid ? cpuSplit(workerPid) : { user: 0, system: 0 };
  return {
    worker: worker.user + worker.system,
    workerSystem: worker.system,
    dovecot: dovecot.cpu,
    dovecotSystem: dovecot.system,
    redis: await redisCpuSeconds(redis),
    bench: (bench.user + bench.system) / 1e6,
    machine: machineCpuSeconds(),
  };
}

type CpuReading = Awaited<ReturnType<typeof cpuReading>>;

/**
 * CPU per account of the worker, Dovecot and Redis between two readings, with the kernel's part of
 * the first two: the worker's own cost, apart from how fast the machine was (Dovecot's cost per
 * login, the same program doing the same work, moved by half between runs minutes apart).
 */
function cpuPerAccount(before: CpuReading, after: CpuReading, accounts: number): string {
  const ms = (used: number) => `${fmt((used / Math.max(accounts, 1)) * 1000, 2)} ms`;
  return `worker ${ms(after.worker - before.worker)} (kernel ${ms(after.workerSystem - before.workerSystem)}), Dovecot ${ms(after.dovecot - before.dovecot)} (kernel ${ms(after.dovecotSystem - before.dovecotSystem)}), Redis ${ms(after.redis - before.redis)}`;
}

/** "worker / Dovecot / Redis / bench / machine busy / stolen" between two readings `seconds` apart, in % of a core. */
function cpuShares(before: CpuReading, after: CpuReading, seconds: number): string {
  const share = (used: number) => fmt((used / seconds) * 100, 0);
  return [after.worker - before.worker, after.dovecot - before.dovecot, after.redis - before.redis, after.bench - before.bench, after.machine.busy - before.machine.busy, after.machine.stolen - before.machine.stolen].map(share).join(' / ') + ' % of a core';
}

/**
 * A deploy: the worker is stopped (it logs out and releases its leases) and a new process takes
 * every account. Unlike the first bring-up, where each login is the mailbox's first and Dovecot
 * creates its folder and index files, the mailboxes exist now, as on every start after the first.
 * Timed from the new process's spawn, its own start-up included.
 */
async function restartWorker(adapters: Adapters, refs: SeededAccount[], old: MailpushProcess, env: Record<string, string>, dovecotPgid: number, cleanup: Cleanup) {
  const stopStarted = performance.now();
  await old.kill('SIGTERM');
  const stopSeconds = (performance.now() - stopStarted) / 1000;
  // A stopped worker leaves each account's last state behind: without this, `idle` would count at once.
  await Promise.all(refs.map((ref) => adapters.accounts.setState(ref, { state: 'connecting' })));
  const before = await cpuReading(undefined, dovecotPgid, adapters.redis!);
  const started = performance.now();
  // It logs that it started after claiming every free account, which takes a while at 10,000.
  const worker = await spawnMailpush('worker', env, { startTimeoutMs: UP_TIMEOUT_MS });
  cleanup.add('restarted worker', () => worker.kill('SIGTERM'));
  const { up } = await waitAllIdle(adapters, refs, worker.pid, started, 0);
  const seconds = (performance.now() - started) / 1000;
  // The new process's whole life so far: all of it was this bring-up.
  const after = await cpuReading(worker.pid, dovecotPgid, adapters.redis!);
  const cpu = cpuShares(before, after, seconds);
  console.log(`  restart: ${up} of ${refs.length} IDLE ${fmt(seconds)} s after the new worker was spawned (the old one took ${fmt(stopSeconds)} s to log out)`);
  return { up, seconds, stopSeconds, cpu, perAccount: cpuPerAccount(before, after, up) };
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  const memoryFile = path.join(tmpdir(), `mailpush-bench-memory-${process.pid}.json`);
  cleanup.add('memory report', () => rmSync(memoryFile, { force: true }));
  try {
    console.log(`\nScale — ${machine()}`);
    console.log(`  ${ACCOUNTS} accounts over ${BENCH_TRANSPORT === 'tls' ? 'TLS (Dovecot ssl = required, a test CA trusted through IMAP_TLS_CA_FILE)' : 'plaintext IMAP'}, IMAP_CONNECT_CONCURRENCY ${CONNECT_CONCURRENCY}, Dovecot hibernation ${HIBERNATE ? 'on (5 s)' : 'off'}, worker malloc ${WORKER_JEMALLOC ? `jemalloc (${WORKER_JEMALLOC}, MALLOC_CONF=${WORKER_MALLOC_CONF || '(its defaults)'})` : 'glibc'}, worker V8 options ${WORKER_V8_OPTIONS || '(none)'}, redis-server ${RECOMMENDED_REDIS_ARGS.join(' ')}, fd limit ${process.env.BENCH_FD_LIMIT ?? '?'}`);
    const setupStarted = performance.now();
    const { dovecot, users } = await startBenchDovecot(ACCOUNTS, { prefix: 's', hibernate: HIBERNATE });
    cleanup.add('dovecot', () => dovecot.cleanup());
    if (BENCH_SERVER_MAILBOXES === 'existing') console.log(`  the server's ${ACCOUNTS} mailboxes made beforehand in ${fmt(await createServerMailboxes(dovecot, users))} s`);
    const redis = await startRedis({ args: RECOMMENDED_REDIS_ARGS });
    cleanup.add('redis', () => redis.cleanup());
    const adapters = benchAdapters(redis.url);
    cleanup.add('bench redis client', () => adapters.close());
    const workerEnv = mailpushEnv(redis.url, dovecot, {
      IMAP_CONNECT_CONCURRENCY: String(CONNECT_CONCURRENCY),
      WORKER_CAPACITY: String(Math.max(ACCOUNTS, 1)),
      LOG_LEVEL: 'info',
      BENCH_MEMORY_FILE: memoryFile,
      // glibc malloc settings for the worker alone (with BENCH_WORKER_MALLOC=glibc; jemalloc reads
      // none of them), e.g. glibc.malloc.mmap_threshold=32768 (see
      // docs/benchmarks.md, "Over TLS": each TLS socket's 64 KiB read buffer then costs only its
      // touched pages).
      ...(process.env.BENCH_WORKER_GLIBC_TUNABLES ? { GLIBC_TUNABLES: process.env.BENCH_WORKER_GLIBC_TUNABLES } : {}),
      // The worker on jemalloc, as the Docker image runs it (BENCH_WORKER_MALLOC=glibc for glibc's malloc).
      ...(WORKER_JEMALLOC ? { LD_PRELOAD: WORKER_JEMALLOC, MALLOC_CONF: WORKER_MALLOC_CONF } : {}),
      // The worker's IMAP_TLS_GROUPS, to measure the post-quantum key share's cost (README, "IMAP over TLS").
      ...(process.env.IMAP_TLS_GROUPS ? { IMAP_TLS_GROUPS: process.env.IMAP_TLS_GROUPS } : {}),
      // How often each connection re-issues IDLE, to measure what a restart costs both sides.
      ...(process.env.IMAP_IDLE_RESTART_SECONDS ? { IMAP_IDLE_RESTART_SECONDS: process.env.IMAP_IDLE_RESTART_SECONDS } : {}),
    });
    if (WORKER_V8_OPTIONS) workerEnv.NODE_OPTIONS = `${workerEnv.NODE_OPTIONS} ${WORKER_V8_OPTIONS}`;
    const worker = await spawnMailpush('worker', workerEnv);
    cleanup.add('worker', () => worker.kill('SIGTERM'));
    let workerBase = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 10; i++) {
      await sleep(500);
      workerBase = Math.min(workerBase, rssBytes(worker.pid));
    }
    const memoryBase = await memoryReport(worker.pid, memoryFile);
    const redisBase = await redisUsedMemory(adapters.redis!);
    const dovecotPgid = dovecotMaster(dovecot.dir);
    const dovecotBase = groupUsage(dovecotPgid);

    const seedStarted = performance.now();
    const refs = await seedAccounts(adapters, dovecot, users);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    console.log(`  setup ${fmt((seedStarted - setupStarted) / 1000)} s, seeded ${ACCOUNTS} accounts in ${fmt(seedSeconds)} s`);

    // BENCH_PROFILE with BENCH_PROFILE_WINDOW=signal: CPU and allocation profiles of the bring-up
    // (window 1) and of the idle window (window 2) alone.
    const profileWindow = process.env.BENCH_PROFILE && process.env.BENCH_PROFILE_WINDOW === 'signal';
    // CPU while the accounts come up, to see which side a slow bring-up waits for.
    if (profileWindow) process.kill(worker.pid, 'SIGWINCH');
    const bringUpCpuBefore = await cpuReading(worker.pid, dovecotPgid, adapters.redis!);
    const bringUpCommandsBefore = await redisCommandCalls(adapters.redis!);
    const bringUpSyscallsBefore = syscallCounts(worker.pid);
    const claimStarted = performance.now();
    await adapters.control.publish({ kind: 'rebalance', from: 'bench' });
    const { up, progress, memory } = await waitAllIdle(adapters, refs, worker.pid, claimStarted, workerBase);
    const upSeconds = (performance.now() - claimStarted) / 1000;
    if (profileWindow) process.kill(worker.pid, 'SIGWINCH');
    const bringUpCpuAfter = await cpuReading(worker.pid, dovecotPgid, adapters.redis!);
    const bringUpCpu = cpuShares(bringUpCpuBefore, bringUpCpuAfter, upSeconds);
    const bringUpPerAccount = cpuPerAccount(bringUpCpuBefore, bringUpCpuAfter, up);
    const bringUpCommands = commandsPerAccount(bringUpCommandsBefore, await redisCommandCalls(adapters.redis!), up);
    const bringUpSyscalls = syscallCounts(worker.pid);
    const syscallsPerAccount = `${fmt((bringUpSyscalls.writes - bringUpSyscallsBefore.writes) / Math.max(up, 1), 1)} writes, ${fmt((bringUpSyscalls.reads - bringUpSyscallsBefore.reads) / Math.max(up, 1), 1)} reads`;
    console.log(`  ${up} of ${ACCOUNTS} IDLE after ${fmt(upSeconds)} s`);

    // Let the connections settle (and Dovecot hibernate them), then measure a quiet window. The
    // first half minute after the last login is not idle yet: V8 collects the garbage of 10,000
    // logins (its helper threads took 2–3 % of a core there), so it is measured and shown apart.
    const settlingThreads = threadCpuSeconds(worker.pid);
    const settlingCpu = await cpuPercent(worker.pid, SETTLE_MS);
    const settlingGc = threadPercent(settlingThreads, threadCpuSeconds(worker.pid), SETTLE_MS).find(([name]) => name === 'V8Worker')?.[1] ?? 0;
    const dovecotCpuBefore = groupUsage(dovecotPgid).cpu;
    if (profileWindow) process.kill(worker.pid, 'SIGWINCH');
    const threadsBefore = threadCpuSeconds(worker.pid);
    const idleFrom = Date.now();
    const machineBefore = { cpu: machineCpuSeconds(), probes: tcpKeepaliveProbes() };
    const idleCpu = await cpuPercent(worker.pid, IDLE_WINDOW_MS);
    const idleTo = Date.now();
    const idleSeconds = (idleTo - idleFrom) / 1000;
    const machineIdle = {
      busy: ((machineCpuSeconds().busy - machineBefore.cpu.busy) / idleSeconds) * 100,
      probes: (tcpKeepaliveProbes() - machineBefore.probes) / idleSeconds,
    };
    const threadsAfter = threadCpuSeconds(worker.pid);
    if (profileWindow) process.kill(worker.pid, 'SIGWINCH');
    const idleByThread = threadPercent(threadsBefore, threadsAfter, IDLE_WINDOW_MS);
    const dovecotIdleCpu = ((groupUsage(dovecotPgid).cpu - dovecotCpuBefore) / (IDLE_WINDOW_MS / 1000)) * 100;
    const workerRss = rssBytes(worker.pid);
    const memoryIdle = await memoryReport(worker.pid, memoryFile);
    const dovecotNow = groupUsage(dovecotPgid);
    const redisNow = await redisUsedMemory(adapters.redis!);
    // All of them, after the idle window: the bring-up's count stopped asking once each was IDLE.
    const idleAtEnd = await countInState(adapters, refs, 'idle');

    // Are the connections alive? A few messages to random accounts must become mail.new events.
    const probes = Array.from({ length: 5 }, () => refs[Math.floor(Math.random() * refs.length)]!);
    for (const probe of probes) {
      await dovecot.deliver(probe.user.email, buildMessage({ from: { address: 'sender@example.test' }, to: probe.user.email, subject: 'scale probe' }));
    }
    const probeStarted = performance.now();
    let delivered = 0;
    while (performance.now() - probeStarted < 40_000) {
      delivered = 0;
      for (const probe of probes) {
        const events = await adapters.eventLog.read(probe.userId, undefined, 50);
        if (events.some((e) => e.type === 'mail.new')) delivered++;
      }
      if (delivered === probes.length) break;
      await sleep(250);
    }
    const probeSeconds = (performance.now() - probeStarted) / 1000;

    const breakdown = await keyBreakdown(adapters.redis!, adapters.keys!, refs[0]!, ACCOUNTS);
    const n = Math.max(up, 1);
    const perAccount = (workerRss - workerBase) / n;
    const redisPerAccount = (redisNow - redisBase) / n;
    console.log(`\nScale: ${up} of ${ACCOUNTS} accounts IDLE on one worker (goal 10,000)`);
    console.log(table(['measure', 'value', 'goal', ''], [
      ['accounts IDLE at the end of the idle window', `${idleAtEnd} / ${ACCOUNTS}`, '10,000', verdict(idleAtEnd >= 10_000)],
      ['worker RSS, before → after', `${fmt(workerBase / 2 ** 20)} → ${fmt(workerRss / 2 ** 20)} MiB`, '', ''],
      ['worker memory per account', kib(perAccount), '≤ 64 KiB', verdict(perAccount <= 64 * 1024)],
      [`first start: all up (${CONNECT_CONCURRENCY} logins at a time; ${BENCH_SERVER_MAILBOXES === 'existing' ? 'the server\'s mailboxes exist' : 'each login the mailbox\'s first, which makes it'})`, `${fmt(upSeconds)} s (${fmt(up / upSeconds, 0)} accounts/s)`, '≤ 60 s', verdict(up >= ACCOUNTS && upSeconds <= 60)],
      ['CPU while bringing them up: worker / Dovecot (all processes) / Redis / this bench / whole machine busy / stolen by the host', bringUpCpu, '', ''],
      ['CPU per account while bringing them up', bringUpPerAccount, '', ''],
      ['Redis commands per account while bringing them up (the bench\'s poll is hget)', bringUpCommands, '', ''],
      ['worker system calls per account while bringing them up (IMAP over TLS, Redis, logs)', syscallsPerAccount, '', ''],
      [`worker CPU in the ${SETTLE_MS / 1000} s after the last login (settling)`, `${fmt(settlingCpu, 2)} % of a core (V8's helper threads ${fmt(settlingGc, 2)} %)`, '', ''],
      [`worker CPU while idle (the ${IDLE_WINDOW_MS / 1000} s after that)`, `${fmt(idleCpu, 2)} % of a core`, '≤ 3 %', verdict(idleCpu <= 3)],
      ['worker garbage collections in that window (main-thread pause)', gcsBetween(memoryIdle, idleFrom, idleTo), '', ''],
      ['the whole machine in that window: CPU busy (all processes and the kernel), TCP keepalive probes sent', `${fmt(machineIdle.busy, 2)} % of a core, ${fmt(machineIdle.probes, 0)} probes/s`, '', ''],
      ['Redis memory per account', `${fmt(redisPerAccount / 1024, 2)} KiB (${fmt((redisNow - redisBase) / 2 ** 20)} MiB in all)`, '< 5 KB', verdict(redisPerAccount < 5000)],
      ['Dovecot RSS (all processes), before → after', `${fmt(dovecotBase.rss / 2 ** 20)} → ${fmt(dovecotNow.rss / 2 ** 20)} MiB in ${dovecotNow.processes} processes`, '', ''],
      ['Dovecot CPU while idle', `${fmt(dovecotIdleCpu, 2)} % of a core`, '', ''],
      ['probe messages notified', `${delivered} / ${probes.length} within ${fmt(probeSeconds)} s`, '', ''],
    ]));
    console.log(`\nWorker CPU while idle, by thread (the main thread runs all JavaScript; the others are V8's and libuv's)`);
    console.log(table(['thread', '% of a core'], idleByThread.map(([name, percent]) => [name, fmt(percent, 2)])));
    console.log(`\nWorker memory per IDLE account, by kind (process.memoryUsage() after − before, ÷ ${n})`);
    console.log(table(['where', 'per account'], memoryBreakdown(memoryBase, memoryIdle, n)));
    console.log(`\nRedis bytes per account, by key (MEMORY USAGE of every key of one account's user, its token, and its share of the gateway-wide keys)`);
    console.log(table(['key', 'bytes'], breakdown.map(([k, v]) => [k, v])));
    lineChart(CHART, {
      title: `${ACCOUNTS.toLocaleString('en')} accounts coming up on one worker (${CONNECT_CONCURRENCY} logins at a time)`,
      xLabel: 'seconds since the worker was asked to claim them',
      yLabel: 'accounts IDLE / worker RSS (MiB)',
      series: [
        { label: 'accounts IDLE', points: progress },
        { label: 'worker RSS (MiB)', points: memory },
      ],
    });
    console.log(`\nchart: ${CHART}`);
    if (RESTART) {
      const restart = await restartWorker(adapters, refs, worker, workerEnv, dovecotPgid, cleanup);
      console.log(`\nA worker restart (a deploy): the worker is stopped, a new process takes all ${ACCOUNTS} accounts; the mailboxes exist now`);
      console.log(table(['measure', 'value', 'goal', ''], [
        ['all IDLE again, from the new process\'s spawn', `${fmt(restart.seconds)} s (${fmt(restart.up / restart.seconds, 0)} accounts/s)`, '≤ 60 s', verdict(restart.up >= ACCOUNTS && restart.seconds <= 60)],
        ['the old worker\'s logout of all of them', `${fmt(restart.stopSeconds)} s`, '', ''],
        ['CPU meanwhile: worker / Dovecot (all processes) / Redis / this bench / whole machine busy / stolen by the host', restart.cpu, '', ''],
        ['CPU per account meanwhile (the new worker\'s start-up included)', restart.perAccount, '', ''],
      ]));
    }
  } finally {
    await cleanup.run();
  }
}

await main();
