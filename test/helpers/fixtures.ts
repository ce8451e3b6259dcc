// The fixtures of a test file, and the guarantee that the file ends.
//
// A test file that starts servers must stop them even when something fails half-way: a Dovecot
// that could not bind, a Redis that started while Dovecot did not, a test that hangs. So every
// fixture is registered for cleanup the moment it has started (not after a Promise.all of several:
// when one start fails, the others still resolve later and are stopped all the same), cleanup()
// stops them in reverse order, and a watchdog ends a file that runs too long, printing each
// fixture's log tail first.
//
//   const fixtures = useFixtures();        // registers after(() => fixtures.cleanup())
//   before(async () => {
//     [dovecot, redis] = await Promise.all([fixtures.dovecot(), fixtures.redis()]);
//   });

import { after } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from './browser.js';
import { startDovecot, type Dovecot, type DovecotOptions } from './dovecot.js';
import { startTestGateway, type TestGateway } from './gateway.js';
import { spawnMailpush, type MailpushProcess, type MailpushRole, type SpawnMailpushOptions } from './processes.js';
import { startPushService, type PushService } from './push-service.js';
import { startRedis, type RedisServer, type StartRedisOptions } from './redis.js';
import { startRedisCluster, type RedisCluster, type StartRedisClusterOptions } from './redis-cluster.js';
import { createTestCa, type TestCa } from './test-ca.js';
import { withTimeout } from './wait.js';

/** How long one fixture may take to start or to stop before it counts as hung. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

/**
 * How long a test file may run before the watchdog prints the fixtures' log tails and exits the
 * process. Below the runner's --test-timeout (package.json), which kills the file silently.
 */
export const FILE_TIMEOUT_MS = Number(process.env.MAILPUSH_TEST_FILE_TIMEOUT_MS) || 540_000;

interface Started {
  what: string;
  stop(): Promise<unknown>;
  logTail?: () => Promise<string> | string;
}

export class Fixtures {
  private readonly started: Started[] = [];
  private readonly starting = new Set<Promise<unknown>>();

  /**
   * Registers what `starting` resolves to, as soon as it resolves, to be stopped by cleanup().
   * Rejects if it fails or takes longer than `startTimeoutMs`; if it does start after that, it
   * is stopped by cleanup() all the same.
   */
  start<T>(
    what: string,
    starting: Promise<T>,
    stop: (value: T) => Promise<unknown> | unknown,
    options: { logTail?: (value: T) => Promise<string> | string; startTimeoutMs?: number } = {},
  ): Promise<T> {
    const registered = starting.then((value) => {
      this.started.push({
        what,
        stop: async () => stop(value),
        ...(options.logTail ? { logTail: () => options.logTail!(value) } : {}),
      });
      return value;
    });
    const settled = registered.then(() => undefined, () => undefined);
    this.starting.add(settled);
    void settled.then(() => this.starting.delete(settled));
    return withTimeout(registered, options.startTimeoutMs ?? START_TIMEOUT_MS, `${what} to start`);
  }

  dovecot(options: DovecotOptions = {}): Promise<Dovecot> {
    return this.start('Dovecot', startDovecot(options), (d) => d.cleanup(), { logTail: (d) => d.logTail() });
  }

  /** A throwaway CA (test-ca.ts) to give Dovecot a certificate the gateway can verify. */
  testCa(): Promise<TestCa> {
    return this.start('test CA', createTestCa(), (ca) => ca.cleanup());
  }

  redis(options: StartRedisOptions = {}): Promise<RedisServer> {
    return this.start('redis-server', startRedis(options), (r) => r.cleanup(), { logTail: async (r) => `--- redis.log ---\n${await r.logTail()}` });
  }

  /** A six-node Redis Cluster (three primaries, a replica each; redis-cluster.ts). */
  redisCluster(options: StartRedisClusterOptions = {}): Promise<RedisCluster> {
    return this.start('Redis Cluster', startRedisCluster(options), (c) => c.cleanup(), { logTail: (c) => c.logTail() });
  }

  pushService(): Promise<PushService> {
    return this.start('push service', startPushService(), (p) => p.close());
  }

  /** An in-process gateway (gateway.ts). */
  gateway(options: Parameters<typeof startTestGateway>[0]): Promise<TestGateway> {
    return this.start(`gateway (${options.role ?? 'all'})`, startTestGateway(options), (g) => g.stop(), {
      logTail: (g) => `--- gateway log ---\n${g.logs.slice(-20).join('')}`,
    });
  }

  /** A spawned `mailpush` process (processes.ts); SIGTERM at cleanup, SIGKILL if it lingers. */
  mailpush(role: MailpushRole, env: Record<string, string>, options: SpawnMailpushOptions = {}): Promise<MailpushProcess> {
    return this.start(`mailpush ${role}`, spawnMailpush(role, env, options), (p) => stopProcess(p), { logTail: (p) => p.logTail() });
  }

  chromium(): Promise<Browser> {
    return this.start('Chromium', launchChromium(), (b) => b.close());
  }

  /** Every started fixture's log tail, for a failure message. */
  async logTails(): Promise<string> {
    const tails = await Promise.all(
      this.started.map(async (f) => (f.logTail ? `=== ${f.what} ===\n${await Promise.resolve(f.logTail()).catch((e: Error) => `(no log: ${e.message})`)}` : '')),
    );
    return tails.filter(Boolean).join('\n');
  }

  /**
   * Waits for starts still under way, then stops everything that started, newest first. Every
   * fixture is stopped even if another fails to; the failures are thrown together afterwards.
   */
  async cleanup(): Promise<void> {
    const errors: Error[] = [];
    // A start that never settles must not hang the cleanup of everything else.
    await withTimeout(Promise.all(this.starting), START_TIMEOUT_MS, 'fixtures still starting').catch((error: Error) => errors.push(error));
    for (const fixture of this.started.splice(0).reverse()) {
      try {
        await withTimeout(fixture.stop(), STOP_TIMEOUT_MS, `${fixture.what} to stop`);
      } catch (error) {
        errors.push(error as Error);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} fixtures failed to stop: ${errors.map((e) => e.message).join('; ')}`);
  }
}

async function stopProcess(child: MailpushProcess): Promise<void> {
  try {
    await withTimeout(child.kill('SIGTERM'), 10_000, `mailpush ${child.role} to exit on SIGTERM`);
  } catch {
    await child.kill('SIGKILL');
  }
}

/**
 * The fixtures of this test file: cleaned up in an `after` hook, and a watchdog that, if the file
 * is still running after `timeoutMs`, writes every fixture's log tail to stderr and exits with 1.
 * The exit hooks of daemon.ts and processes.ts then stop the servers, and setpriv's death signal
 * covers a process killed from outside.
 */
export function useFixtures(options: { timeoutMs?: number } = {}): Fixtures {
  const fixtures = new Fixtures();
  const timeoutMs = options.timeoutMs ?? FILE_TIMEOUT_MS;
  const watchdog = setTimeout(() => {
    void (async () => {
      const tails = await withTimeout(fixtures.logTails(), 5000, 'the log tails').catch((e: Error) => e.message);
      process.stderr.write(`\nTEST FILE TIMED OUT after ${timeoutMs} ms (MAILPUSH_TEST_FILE_TIMEOUT_MS): exiting.\n${tails}\n`);
      process.exit(1);
    })();
  }, timeoutMs);
  watchdog.unref(); // never the reason the process stays alive
  after(() => fixtures.cleanup());
  return fixtures;
}
