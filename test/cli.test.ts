import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });

test('--help lists every role', () => {
  const result = run(['--help']);
  assert.equal(result.status, 0);
  for (const role of ['all', 'web', 'worker']) assert.match(result.stdout, new RegExp(`^\\s+${role}\\s`, 'm'));
});

test('a missing or bad variable stops start-up with one line naming it', () => {
  const missing = run(['all'], { REDIS_URL: 'redis://127.0.0.1:1' });
  assert.equal(missing.status, 78);
  assert.equal(missing.stderr.trim().split('\n').length, 1);
  assert.match(missing.stderr, /MAILPUSH_SECRET is required: every process sharing REDIS_URL/);
  const bad = run(['worker'], { REDIS_URL: 'redis://127.0.0.1:1', MAILPUSH_SECRET: 'long-enough-secret-value-for-32-characters', IMAP_CONNECT_CONCURRENCY: 'lots' });
  assert.equal(bad.status, 78);
  assert.match(bad.stderr, /^mailpush: configuration error: IMAP_CONNECT_CONCURRENCY must be a whole number/);
  const placeholder = run(['web'], { REDIS_URL: 'redis://127.0.0.1:1', MAILPUSH_SECRET: 'change-me-to-a-long-random-secret' });
  assert.equal(placeholder.status, 78);
  assert.equal(placeholder.stderr.trim().split('\n').length, 1);
  assert.match(placeholder.stderr, /MAILPUSH_SECRET must be at least 32 characters.*openssl rand -base64 32/);
});

test('an unknown command is refused with the usage', () => {
  const result = run(['serve']);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /unknown command "serve"/);
});

test('vapid-keys prints a fresh, valid key pair in .env form', () => {
  const first = run(['vapid-keys']);
  assert.equal(first.status, 0);
  const match = /^VAPID_PUBLIC_KEY=([A-Za-z0-9_-]+)\nVAPID_PRIVATE_KEY=([A-Za-z0-9_-]+)\n$/.exec(first.stdout);
  assert.ok(match, first.stdout);
  assert.equal(Buffer.from(match[1]!, 'base64url').length, 65);
  assert.equal(Buffer.from(match[2]!, 'base64url').length, 32);
  assert.notEqual(run(['vapid-keys']).stdout, first.stdout);
});

test('each command has its own --help', () => {
  for (const command of ['all', 'web', 'worker', 'check-imap', 'vapid-keys']) {
    const result = run([command, '--help']);
    assert.equal(result.status, 0, command);
    assert.match(result.stdout, new RegExp(`^Usage: mailpush ${command}\\b`), command);
    assert.deepEqual(run(['help', command]).stdout, result.stdout);
  }
  assert.match(run(['check-imap', '--help']).stdout, /--watch\s+wait for one new message/);
});

test('an unreachable Redis stops start-up within seconds, in one line that says what to do, without the password', () => {
  const started = Date.now();
  const result = run(['web'], { REDIS_URL: 'redis://:hunter2-secret@127.0.0.1:1', MAILPUSH_SECRET: 'long-enough-secret-value-for-32-characters', LOG_LEVEL: 'silent' });
  assert.ok(Date.now() - started < 10_000, 'fails fast instead of retrying for ever');
  assert.equal(result.status, 1);
  assert.equal(result.stderr.trim().split('\n').length, 1);
  assert.match(result.stderr, /^mailpush: cannot start web: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 \(.*ECONNREFUSED.*\); start Redis or point REDIS_URL at it$/m);
  assert.equal(result.stderr.includes('hunter2'), false);
});

test('an unreachable Redis Cluster stops start-up the same way, naming REDIS_CLUSTER_NODES, without the password', () => {
  const started = Date.now();
  const result = run(['worker'], { REDIS_CLUSTER_NODES: '127.0.0.1:1,127.0.0.1:2', REDIS_PASSWORD: 'hunter2-secret', MAILPUSH_SECRET: 'long-enough-secret-value-for-32-characters', LOG_LEVEL: 'silent' });
  assert.ok(Date.now() - started < 10_000, 'fails fast instead of retrying for ever');
  assert.equal(result.status, 1);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, /^mailpush: cannot start worker: cannot reach Redis at Redis Cluster 127\.0\.0\.1:1,127\.0\.0\.1:2 \(.+\); start Redis or point REDIS_CLUSTER_NODES at it$/m);
  assert.equal(result.stderr.includes('hunter2'), false);
});

test('a port in use stops start-up in one line naming the variable', async () => {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const { mkdtempSync, rmSync } = await import('node:fs');
  const dataDir = mkdtempSync('/tmp/mailpush-cli-');
  try {
    const web = run(['all'], { PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    assert.equal(web.status, 1);
    assert.equal(web.stderr.trim(), `mailpush: cannot start all: port ${port} is in use; set PORT to a free one`);
    const metrics = run(['all'], { PORT: '0', METRICS_PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    assert.equal(metrics.status, 1);
    assert.equal(metrics.stderr.trim(), `mailpush: cannot start all: port ${port} is in use; set METRICS_PORT to a free one`);
  } finally {
    server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a role refuses arguments instead of ignoring them', () => {
  const result = run(['web', '--port', '9000']);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /web takes no arguments/);
});
