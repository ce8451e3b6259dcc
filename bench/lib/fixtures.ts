// What the benchmarks start and seed: a Dovecot tuned for thousands of IDLE connections, Redis,
// mailpush processes, and users/accounts written straight through the Redis adapters.

import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { createRedisAdapters } from '../../src/adapters/redis/index.js';
import { isCluster, type RedisTarget } from '../../src/adapters/redis/connection.js';
import type { Adapters } from '../../src/adapters/adapters.js';
import { SecretBox } from '../../src/core/secret-box.js';
import { hashToken, newId, newToken } from '../../src/core/tokens.js';
import type { AccountRecord } from '../../src/core/types.js';
import type { AccountRef } from '../../src/core/account-ref.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../../test/helpers/dovecot.js';
import { RECOMMENDED_REDIS_ARGS, startRedis } from '../../test/helpers/redis.js';
import { startRedisCluster } from '../../test/helpers/redis-cluster.js';
import { createTestCa } from '../../test/helpers/test-ca.js';

export const BENCH_SECRET = 'bench-secret-that-is-long-enough-for-32-characters';

/**
 * Dovecot settings for `connections` IDLE sessions on one instance. All test users share the
 * system uid "mail", so one imap process may serve many of them (client_limit); the login
 * processes run in "high-performance" mode (service_count = 0). With `hibernate`, a session that
 * has been IDLE for 5 s moves into the single imap-hibernate process. BENCH_DOVECOT_CONFIG adds
 * lines of its own (e.g. `mail_fsync = never`), to see what a server setting does to a bench.
 */
export function dovecotTuning(connections: number, options: { hibernate?: boolean } = {}): string {
  const perProcess = 1000;
  const clients = connections + 500;
  return `# --- mailpush benchmark tuning (bench/lib/fixtures.ts) ---
default_vsz_limit = 1G
default_client_limit = ${Math.max(1000, clients)}
service imap-login {
  service_count = 0
  process_min_avail = 2
  client_limit = ${Math.max(1000, clients)}
  process_limit = 8
}
service imap {
  service_count = 0
  client_limit = ${perProcess}
  process_limit = ${Math.ceil(clients / perProcess) + 8}
}
${process.env.BENCH_DOVECOT_CONFIG ? `# BENCH_DOVECOT_CONFIG\n${process.env.BENCH_DOVECOT_CONFIG}\n` : ''}${options.hibernate ? `imap_hibernate_timeout = 5s
service imap {
  unix_listener imap-master {
    user = $default_internal_user
  }
}
service imap-hibernate {
  client_limit = ${Math.max(1000, clients)}
  unix_listener imap-hibernate {
    mode = 0660
    group = $default_internal_group
  }
}
` : ''}`;
}

/**
 * How the worker talks to Dovecot: `tls` (the default, as real IMAP is: Dovecot with
 * `ssl = required` and a certificate from a throwaway CA the worker trusts through
 * IMAP_TLS_CA_FILE, verification on) or `plain` (BENCH_TRANSPORT=plain, for comparison).
 */
export type BenchTransport = 'tls' | 'plain';

export const BENCH_TRANSPORT: BenchTransport = (() => {
  const value = process.env.BENCH_TRANSPORT ?? 'tls';
  if (value !== 'tls' && value !== 'plain') throw new Error(`BENCH_TRANSPORT must be tls or plain, got "${value}"`);
  return value;
})();

/** The CA file of each bench Dovecot started over TLS. */
const benchCaFiles = new WeakMap<Dovecot, string>();

/** The IMAP port, security and settings the worker uses for `dovecot` under BENCH_TRANSPORT. */
export function benchImap(dovecot: Dovecot): { port: number; security: 'tls' | 'none'; caFile?: string } {
  const caFile = benchCaFiles.get(dovecot);
  return caFile ? { port: dovecot.imapsPort, security: 'tls', caFile } : { port: dovecot.imapPort, security: 'none' };
}

/** A Dovecot with `users` passwd-file users named `<prefix><n>`, all with one password, over BENCH_TRANSPORT. */
export async function startBenchDovecot(users: number, options: { prefix?: string; hibernate?: boolean; pushNotification?: boolean } = {}): Promise<{ dovecot: Dovecot; users: DovecotUser[] }> {
  const ca = BENCH_TRANSPORT === 'tls' ? await createTestCa() : undefined;
  let dovecot: Dovecot;
  try {
    dovecot = await startDovecot({
      extraConfig: dovecotTuning(users, options),
      ...(ca ? { tls: { ca, required: true } } : {}),
      ...(options.pushNotification ? { pushNotification: {} } : {}),
    });
  } catch (error) {
    await ca?.cleanup();
    throw error;
  }
  if (ca) {
    benchCaFiles.set(dovecot, ca.caFile);
    const stopDovecot = dovecot.cleanup.bind(dovecot);
    dovecot.cleanup = async () => {
      await stopDovecot();
      await ca.cleanup();
    };
  }
  try {
    const names = Array.from({ length: users }, (_, i) => `${options.prefix ?? 'b'}${i}`);
    return { dovecot, users: await dovecot.addUsers(names, 'bench-password') };
  } catch (error) {
    await dovecot.cleanup();
    throw error;
  }
}

/**
 * Whether the bench's IMAP server already holds its users' mailboxes when the gateway first starts,
 * as any real server does (`existing`, the default: made beforehand by `createServerMailboxes`), or
 * each first login makes its maildir and index files (BENCH_SERVER_MAILBOXES=fresh): then a cold
 * start also times the test Dovecot writing 10,000 new mailboxes to this machine's disk, which swung
 * from run to run (docs/benchmarks.md, 2026-12-04 night).
 */
export const BENCH_SERVER_MAILBOXES: 'existing' | 'fresh' = (() => {
  const value = process.env.BENCH_SERVER_MAILBOXES ?? 'existing';
  if (value !== 'existing' && value !== 'fresh') throw new Error(`BENCH_SERVER_MAILBOXES must be existing or fresh, got "${value}"`);
  return value;
})();

/**
 * Makes each user's INBOX on the server (maildir, UID list and index log) with `doveadm mailbox
 * status`, one doveadm per core over its share of the users, before anything is timed. Returns
 * the seconds it took.
 */
export async function createServerMailboxes(dovecot: Dovecot, users: DovecotUser[]): Promise<number> {
  const started = performance.now();
  const processes = Math.max(1, Math.min(availableParallelism(), users.length));
  const perProcess = Math.ceil(users.length / processes);
  await Promise.all(Array.from({ length: processes }, async (_, n) => {
    const list = path.join(dovecot.dir, `bench-users-${n}.txt`);
    await writeFile(list, users.slice(n * perProcess, (n + 1) * perProcess).map((user) => `${user.user}\n`).join(''));
    await dovecot.doveadm(['mailbox', 'status', '-F', list, 'messages', 'INBOX'], { timeoutMs: 600_000 });
  }));
  return (performance.now() - started) / 1000;
}

/** The benchmark's Redis: what mailpush processes are told (env) and what the bench connects to (target). */
export interface BenchRedis {
  target: RedisTarget;
  env: Record<string, string>;
  /** For the report: which Redis the numbers are from. */
  label: string;
  cleanup(): Promise<void>;
}

/**
 * One redis-server, or with BENCH_REDIS=cluster a Redis Cluster of three primaries with a replica
 * each (the tests' helper, all on this machine), both with the recommended arguments. On the
 * cluster the processes run with REDIS_WAIT_REPLICAS' default: every append waits for its replica.
 */
export async function startBenchRedis(): Promise<BenchRedis> {
  if (process.env.BENCH_REDIS === 'cluster') {
    const cluster = await startRedisCluster({ args: RECOMMENDED_REDIS_ARGS });
    return {
      target: { nodes: cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })), tls: false },
      env: { REDIS_CLUSTER_NODES: cluster.seeds },
      label: 'Redis Cluster: 3 primaries + 3 replicas on this machine',
      cleanup: () => cluster.cleanup(),
    };
  }
  const redis = await startRedis({ args: RECOMMENDED_REDIS_ARGS });
  return { target: redis.url, env: { REDIS_URL: redis.url }, label: 'one Redis', cleanup: () => redis.cleanup() };
}

/** True when BENCH_REDIS=cluster: reports and charts say so and go to files of their own. */
export const ON_CLUSTER = process.env.BENCH_REDIS === 'cluster';

export function benchAdapters(redis: RedisTarget): Adapters {
  return createRedisAdapters({ redis, events: { batchSize: 25, retentionCount: 1000, retentionMs: 7 * 86400_000 } }, 'bench');
}

export interface SeededAccount extends AccountRef {
  token: string;
  user: DovecotUser;
}

/**
 * Creates one user (with a bearer token) and one account per Dovecot user, straight through the
 * adapters: what POST /v1/accounts stores, without its IMAP login check.
 */
export async function seedAccounts(adapters: Adapters, dovecot: Dovecot, users: DovecotUser[], concurrency = 64): Promise<SeededAccount[]> {
  const box = new SecretBox(BENCH_SECRET);
  const imap = benchImap(dovecot);
  const seeded: SeededAccount[] = new Array(users.length);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < users.length) {
      const i = next++;
      const user = users[i]!;
      const token = newToken();
      const userId = await adapters.users.create(hashToken(token));
      const accountId = newId('acc');
      const now = new Date().toISOString();
      const record: AccountRecord = {
        userId, accountId, email: user.email,
        imap: { host: dovecot.host, port: imap.port, security: imap.security, user: user.user },
        sealedPassword: box.seal(user.pass, accountId),
        mailboxes: ['INBOX'], disabled: false, state: 'connecting', createdAt: now, updatedAt: now,
      };
      await adapters.accounts.create(record, `${dovecot.host}|${imap.port}|${user.user}`);
      seeded[i] = { userId, accountId, token, user };
    }
  }));
  return seeded;
}

/** Users with a token and no account, for stream clients. */
export async function seedUsers(adapters: Adapters, count: number, concurrency = 64): Promise<Array<{ userId: string; token: string }>> {
  const seeded: Array<{ userId: string; token: string }> = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      const token = newToken();
      seeded[i] = { userId: await adapters.users.create(hashToken(token)), token };
    }
  }));
  return seeded;
}

/** How many of `refs` are in `state` (one HGET each, pipelined). */
export async function countInState(adapters: Adapters, refs: AccountRef[], state: string): Promise<number> {
  return refs.length - (await notInState(adapters, refs, state)).length;
}

/** Those of `refs` not in `state`, in their order. */
export async function notInState<Ref extends AccountRef>(adapters: Adapters, refs: Ref[], state: string): Promise<Ref[]> {
  const redis = adapters.redis!;
  const others: Ref[] = [];
  for (let i = 0; i < refs.length; i += 2000) {
    const slice = refs.slice(i, i + 2000);
    let states: unknown[];
    if (isCluster(redis)) {
      // A pipeline may not span nodes: one HGET each, which auto-pipelining batches per node.
      states = await Promise.all(slice.map((ref) => redis.hget(adapters.keys!.account(ref), 'state')));
    } else {
      const pipeline = redis.pipeline();
      for (const ref of slice) pipeline.hget(adapters.keys!.account(ref), 'state');
      states = ((await pipeline.exec()) ?? []).map(([, value]) => value);
    }
    slice.forEach((ref, n) => states[n] !== state && others.push(ref));
  }
  return others;
}

/** Environment for `mailpush worker|web` against the bench's Redis and Dovecot. */
export function mailpushEnv(redis: string | BenchRedis, dovecot: Dovecot | undefined, extra: Record<string, string> = {}): Record<string, string> {
  const imap = dovecot ? benchImap(dovecot) : undefined;
  return {
    ...(typeof redis === 'string' ? { REDIS_URL: redis } : redis.env),
    MAILPUSH_SECRET: BENCH_SECRET,
    LOG_LEVEL: 'info',
    IMAP_ALLOW_PRIVATE: 'true',
    // Over TLS the worker runs as a production one would: no plaintext, certificates verified.
    ...(imap?.caFile ? { IMAP_TLS_CA_FILE: imap.caFile } : { IMAP_ALLOW_INSECURE: 'true' }),
    REGISTER_RATE_LIMIT_PER_MINUTE: '100000',
    ...(dovecot && imap ? { IMAP_DEFAULT_HOST: dovecot.host, IMAP_DEFAULT_PORT: String(imap.port), IMAP_ALLOWED_PORTS: String(imap.port), IMAP_DEFAULT_SECURITY: imap.security } : {}),
    // --cpu-prof is not allowed in NODE_OPTIONS; this preload does the same through the inspector.
    // The memory report (a file written on SIGUSR2) is always there; it costs nothing until asked.
    NODE_OPTIONS: [
      `--import ${new URL('./memory-report.js', import.meta.url).href}`,
      ...(process.env.BENCH_PROFILE ? [`--import ${new URL('./cpu-profile.js', import.meta.url).href}`] : []),
    ].join(' '),
    ...(process.env.BENCH_PROFILE ? { BENCH_PROFILE_DIR: process.env.BENCH_PROFILE } : {}),
    ...(process.env.BENCH_PROFILE_WINDOW ? { BENCH_PROFILE_WINDOW: process.env.BENCH_PROFILE_WINDOW } : {}),
    ...(process.env.BENCH_HEAP_SNAPSHOT_DIR ? { BENCH_HEAP_SNAPSHOT_DIR: process.env.BENCH_HEAP_SNAPSHOT_DIR } : {}),
    ...extra,
  };
}

/** Runs cleanups in reverse order of registration, once, also on Ctrl-C and SIGTERM. */
export class Cleanup {
  private readonly steps: Array<{ what: string; run: () => Promise<unknown> | unknown }> = [];
  private done: Promise<void> | undefined;

  constructor() {
    process.once('SIGINT', () => void this.run().finally(() => process.exit(130)));
    process.once('SIGTERM', () => void this.run().finally(() => process.exit(143)));
  }

  add(what: string, run: () => Promise<unknown> | unknown): void {
    this.steps.push({ what, run });
  }

  run(): Promise<void> {
    this.done ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.run();
        } catch (error) {
          console.error(`cleanup: ${step.what} failed: ${(error as Error).message}`);
        }
      }
    })();
    return this.done;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function randomName(): string {
  return randomBytes(4).toString('hex');
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, intervalMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
