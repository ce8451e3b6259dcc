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
  const bad = run(['worker'], { REDIS_URL: 'redis://127.0.0.1:1', MAILPUSH_SECRET: 'long-enough-secret-value', IMAP_CONNECT_CONCURRENCY: 'lots' });
  assert.equal(bad.status, 78);
  assert.match(bad.stderr, /^mailpush: configuration error: IMAP_CONNECT_CONCURRENCY must be a whole number/);
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
