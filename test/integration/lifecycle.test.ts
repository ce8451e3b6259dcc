// The composition root (src/gateway.ts): a start that fails half-way closes everything it had
// opened, in reverse order, so the process can exit on its own; and `mailpush all` keeps one cap on
// IMAP logins per host for the API's login checks and the worker together.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import webpush from 'web-push';
import { TeardownStack } from '../../src/teardown.js';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { api, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import type { RedisServer } from '../helpers/redis.js';

function logLines(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write: (chunk, _encoding, done) => (lines.push(JSON.parse(String(chunk))), done()) });
  return { log: pino({ level: 'debug' }, sink), lines };
}

describe('TeardownStack', () => {
  test('closes newest first, logs a closer that fails and still runs the rest, once', async () => {
    const { log, lines } = logLines();
    const stack = new TeardownStack(log);
    const closed: string[] = [];
    stack.push('storage', () => closed.push('storage'));
    stack.push('queue', async () => {
      closed.push('queue');
      throw new Error('queue stuck');
    });
    stack.push('web', async () => closed.push('web'));
    await Promise.all([stack.unwind(), stack.unwind()]);
    await stack.unwind();
    assert.deepEqual(closed, ['web', 'queue', 'storage']);
    assert.deepEqual(lines.filter((l) => l.level === 50).map((l) => [l.part, l.err]), [['queue', 'queue stuck']]);
  });
});

let redis: RedisServer;
let dovecot: Dovecot;
const fixtures = useFixtures();

before(async () => {
  [redis, dovecot] = await Promise.all([fixtures.redis(), fixtures.dovecot()]);
});

/** Names of this Redis's client connections that mailpush opened. */
async function mailpushClients(): Promise<string[]> {
  const admin = new Redis(redis.url);
  try {
    const list = (await admin.client('LIST')) as string;
    return list.split('\n').map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? '').filter((name) => name.startsWith('mailpush:'));
  } finally {
    admin.disconnect();
  }
}

describe('a start that fails after some parts started', () => {
  test('closes what it opened, newest first; the process exits by itself and leaves no Redis connection', async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    const vapid = webpush.generateVAPIDKeys();
    const dist = (file: string) => fileURLToPath(new URL(`../../src/${file}`, import.meta.url));
    // No process.exit anywhere: the child ends only when nothing is left open.
    const script = `
      const { startGateway } = await import(${JSON.stringify(dist('gateway.js'))});
      const { loadConfig } = await import(${JSON.stringify(dist('config.js'))});
      const { createLogger } = await import(${JSON.stringify(dist('logger.js'))});
      const config = loadConfig(process.env);
      try {
        await startGateway('all', config, createLogger('debug'));
        console.log(JSON.stringify({ started: true }));
      } catch (error) {
        console.log(JSON.stringify({ failed: error.code }));
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        PATH: process.env.PATH, REDIS_URL: redis.url, MAILPUSH_SECRET: 'lifecycle-secret-long-enough-for-32-characters', PORT: String(port), HOST: '127.0.0.1',
        METRICS_PORT: '0', IMAP_DEFAULT_HOST: '127.0.0.1', IMAP_DEFAULT_PORT: String(dovecot.imapPort), IMAP_ALLOWED_PORTS: String(dovecot.imapPort), IMAP_DEFAULT_SECURITY: 'none',
        VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: 'mailto:ops@example.test',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      const code = await new Promise<number | null>((resolve, reject) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`the process did not exit by itself; output:\n${out.slice(-3000)}`));
        }, 15_000);
        child.on('exit', (exitCode) => {
          clearTimeout(timer);
          resolve(exitCode);
        });
      });
      const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.ok(lines.some((l) => l.failed === 'EADDRINUSE'), out.slice(-3000));
      assert.equal(code, 0);
      assert.ok(lines.some((l) => l.msg === 'worker started'), 'the worker had started');
      const stopped = lines.filter((l) => l.msg === 'stopped').map((l) => l.part);
      assert.deepEqual(stopped, ['web', 'worker', 'queued pushes', 'push delivery', 'metrics listener', 'push queue', 'storage']);
      assert.deepEqual(lines.filter((l) => Number(l.level) >= 50 && l.part), [], 'every part stopped cleanly');
      assert.deepEqual(await mailpushClients(), [], 'no Redis connection left behind');
    } finally {
      busy.close();
    }
  });
});

/**
 * A loopback proxy in front of Dovecot that counts IMAP logins in progress: from the moment a
 * connection arrives until the server says "Logged in" (or the connection ends). The greeting is
 * held back a little, so logins that are allowed to overlap do.
 */
async function startLoginMeter(targetPort: number, greetingDelayMs: number) {
  let inProgress = 0;
  let peak = 0;
  let logins = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    inProgress++;
    peak = Math.max(peak, inProgress);
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      inProgress--;
    };
    sockets.add(client);
    client.on('error', () => undefined).on('close', done);
    setTimeout(() => {
      if (client.destroyed) return;
      const upstream = connect(targetPort, '127.0.0.1');
      sockets.add(upstream);
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        if (counted && / OK .*Logged in/.test(chunk.toString('latin1'))) {
          logins++;
          done();
        }
        client.write(chunk);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      upstream.on('error', end).on('close', end);
      client.on('close', end);
    }, greetingDelayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    peak: () => peak,
    logins: () => logins,
    async close() {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('mailpush all', () => {
  let gateway: TestGateway | undefined;

  test('API login checks and worker logins share IMAP_CONNECT_CONCURRENCY per host', async () => {
    const meter = await fixtures.start('login meter', startLoginMeter(dovecot.imapPort, 150), (m) => m.close());
    gateway = await fixtures.gateway({ role: 'all', redisUrl: redis.url, imapPort: meter.port, env: { IMAP_CONNECT_CONCURRENCY: '1' } });
    const users = await dovecot.addUsers(['shared-limit-1', 'shared-limit-2', 'shared-limit-3', 'shared-limit-4']);
    // Registrations at once: each login check, and the worker's login for each account created,
    // all go to the same host.
    const created = await Promise.all(users.map((user) => api(gateway!.url!, 'POST', '/v1/accounts', { body: { imap: { user: user.user, pass: user.pass } } })));
    assert.deepEqual(created.map((r) => r.status), [201, 201, 201, 201]);
    for (const { body } of created) {
      const { token, account } = body as { token: string; account: { id: string } };
      await waitFor(async () => (await api(gateway!.url!, 'GET', `/v1/accounts/${account.id}`, { token })).body.account.state === 'idle', { timeoutMs: 20_000, what: 'idle' });
    }
    assert.ok(meter.logins() >= 8, `four checks and four worker logins (${meter.logins()})`);
    assert.equal(meter.peak(), 1, 'never two logins at once against the host');
    assert.equal(gateway.worker!.limiter.peak('127.0.0.1'), 1);
  });
});
