// The client limits' pieces without Redis: TRUST_PROXY's forms, the address a client is counted as,
// the stream places, and the per-mailbox login budget on the embedded (in-memory) attempt counter.
// test/integration/client-limits.test.ts covers the same limits against Redis and Dovecot.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createEmbeddedAdapters } from '../../src/adapters/embedded.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { buildWebApp } from '../../src/roles/web/app.js';
import { StreamAdmission, clientAddressKey } from '../../src/roles/web/stream-admission.js';

test('TRUST_PROXY: off by default; true/false, a hop count, or addresses/CIDRs; anything else names the variable', () => {
  const trust = (value?: string) => loadConfig({ ...(value !== undefined ? { TRUST_PROXY: value } : {}) }).trustProxy;
  assert.equal(trust(), false);
  assert.equal(trust('true'), true);
  assert.equal(trust('FALSE'), false);
  assert.equal(trust('2'), 2);
  assert.deepEqual(trust('10.0.0.5, fd00::/8,192.168.0.0/16'), ['10.0.0.5', 'fd00::/8', '192.168.0.0/16']);
  for (const bad of ['yes-please', '10.0.0.0/33', 'fd00::/129', '0', 'proxy.example.com', '10.0.0.1/8/8']) {
    assert.throws(() => trust(bad), (error: unknown) => error instanceof ConfigError && error.variable === 'TRUST_PROXY', bad);
  }
});

test('a client is counted by its IPv6 /64, or by the IPv4 address inside an IPv4-mapped one', () => {
  assert.equal(clientAddressKey('2001:db8:1:2:aaaa::1'), clientAddressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'));
  assert.notEqual(clientAddressKey('2001:db8:1:2::1'), clientAddressKey('2001:db8:1:3::1'));
  assert.equal(clientAddressKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.notEqual(clientAddressKey('192.0.2.7'), clientAddressKey('192.0.2.8'));
  assert.equal(clientAddressKey(undefined), 'gone', 'a reset connection has no address; it must not throw');
});

test('stream places: refused at the limit, given back once however often released, and nothing kept at zero', () => {
  const admission = new StreamAdmission({ maxPerUser: 2, maxUnauthenticatedPerAddress: 1 });
  const first = admission.admitStream('u1');
  const second = admission.admitStream('u1');
  assert.ok(first && second);
  assert.equal(admission.admitStream('u1'), undefined);
  assert.ok(admission.admitStream('u2'), 'another user has its own places');
  first();
  first();
  assert.ok(admission.admitStream('u1'), 'one place back');
  assert.equal(admission.admitStream('u1'), undefined, 'and only one');

  const waiting = admission.admitUnauthenticated('2001:db8::1');
  assert.ok(waiting);
  assert.equal(admission.admitUnauthenticated('2001:db8::2'), undefined, 'the same /64');
  waiting();
  assert.deepEqual(admission.held(), { unauthenticated: 0, streams: 3 });
});

let dataDir: string;
let app: FastifyInstance;
let closedImap: Server;

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'mailpush-limits-'));
  // An IMAP "server" that hangs up at once: each registration's login check fails quickly (502).
  closedImap = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => closedImap.listen(0, '127.0.0.1', resolve));
  const config = loadConfig({
    DATA_DIR: dataDir,
    MAILPUSH_SECRET: 'limits-unit-test-secret-long-enough-for-32-chars',
    TRUST_PROXY: '1',
    IMAP_ALLOW_PRIVATE: 'true',
    IMAP_ALLOW_INSECURE: 'true',
    IMAP_ALLOWED_PORTS: '*',
    ACCOUNT_UPDATE_RATE_LIMIT_PER_MINUTE: '1',
    MAILBOX_LOGIN_LIMIT: '2',
  });
  const adapters = createEmbeddedAdapters(config);
  app = await buildWebApp({ config, adapters, logger: pino({ level: 'silent' }) });
  app.addHook('onClose', () => adapters.close());
});

after(async () => {
  await app.close();
  await new Promise((resolve) => closedImap.close(resolve));
  await rm(dataDir, { recursive: true, force: true });
});

test('TRUST_PROXY=1: the address the nearest proxy added is the client; a hop further out is not trusted', async () => {
  // The proxy (10.0.0.1) appends the address it saw; anything before it is what the client claimed.
  const patch = (forwardedFor: string) => app.inject({ method: 'PATCH', url: '/v1/accounts/acc_x', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': forwardedFor }, payload: { disabled: false } });
  assert.equal((await patch('203.0.113.1')).statusCode, 401);
  const limited = await patch('198.51.100.9, 203.0.113.1');
  assert.equal(limited.statusCode, 429, 'a forged first entry does not make a new client');
  assert.equal(limited.json().error.code, 'rate_limited');
  assert.ok(Number(limited.headers['retry-after']) >= 1);
  assert.equal((await patch('203.0.113.2')).statusCode, 401, 'another client');
});

test('embedded: login checks per mailbox share one in-memory budget across addresses and spellings', async () => {
  const { port } = closedImap.address() as { port: number };
  const register = (from: string, user: string) => app.inject({
    method: 'POST', url: '/v1/accounts', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': from },
    payload: { imap: { host: '127.0.0.1', port, security: 'none', user, pass: 'guess' } },
  });
  assert.equal((await register('192.0.2.1', 'victim')).statusCode, 502);
  assert.equal((await register('192.0.2.2', 'VICTIM')).statusCode, 502);
  const refused = await register('192.0.2.3', 'Victim');
  assert.equal(refused.statusCode, 429);
  assert.equal(refused.json().error.code, 'rate_limited');
  assert.ok(Number(refused.headers['retry-after']) > 800, 'until the 15-minute window ends');
  assert.equal((await register('192.0.2.3', 'someone-else')).statusCode, 502, 'another mailbox has its own budget');
});
