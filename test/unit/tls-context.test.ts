import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, createSecureContext, createServer, type TLSSocket } from 'node:tls';
import { loadConfig } from '../../src/config.js';
import { TLS_RESUME_MISSES, TLS_RESUME_RETRY_MS, TlsSessionCache, tlsOptionsFor } from '../../src/imap/tls-context.js';
import { createTestCa } from '../helpers/test-ca.js';

const base = { REDIS_URL: 'redis://127.0.0.1:6390', MAILPUSH_SECRET: 'a-secret-of-enough-length-for-32-characters' };

test('IMAP_TLS_GROUPS: the key exchange an IMAP server agrees to is one of the groups offered; by default the post-quantum hybrid where OpenSSL has it', async () => {
  const ca = await createTestCa();
  const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-tls-groups-'));
  // A server that accepts every group this OpenSSL knows, as one on a current OpenSSL would.
  const { certFile, keyFile } = await ca.issue(dir);
  const server = createServer({ cert: await readFile(certFile), key: await readFile(keyFile) }, (socket) => socket.end('* OK ready\r\n'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const agreed = async (env: Record<string, string>) => {
    const imap = loadConfig({ ...base, IMAP_TLS_CA_FILE: ca.caFile, ...env }).imap;
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...tlsOptionsFor(imap, `127.0.0.1|${port}|localhost`) });
    await once(socket, 'secureConnect');
    const name = socket.getEphemeralKeyInfo();
    socket.destroy();
    return (name as { name?: string }).name;
  };
  // OpenSSL 3.5 (Node 24) knows the hybrid and offers it first; 3.0 (Node 22) does not.
  const hybridKnown = (() => {
    try {
      createSecureContext({ ecdhCurve: 'X25519MLKEM768' });
      return true;
    } catch {
      return false;
    }
  })();
  try {
    assert.equal(await agreed({}), hybridKnown ? 'X25519MLKEM768' : 'X25519');
    assert.equal(await agreed({ IMAP_TLS_GROUPS: 'X25519:P-256' }), 'X25519');
    assert.equal(await agreed({ IMAP_TLS_GROUPS: 'P-256' }), 'prime256v1');
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
    await ca.cleanup();
  }
});

test('IMAP_TLS_GROUPS: a name OpenSSL does not know, or a malformed list, stops start-up naming the variable', () => {
  assert.throws(() => loadConfig({ ...base, IMAP_TLS_GROUPS: 'X25519:NotAGroup' }), /^ConfigError: IMAP_TLS_GROUPS names a group this Node\.js \(OpenSSL [^)]+\) does not know: "X25519:NotAGroup"/);
  assert.throws(() => loadConfig({ ...base, IMAP_TLS_GROUPS: 'X25519;P-256' }), /^ConfigError: IMAP_TLS_GROUPS must be group names separated by ":"/);
  assert.equal(loadConfig({ ...base, IMAP_TLS_GROUPS: ' X25519 : P-256 ' }).imap.tlsGroups, 'X25519:P-256');
  assert.equal(loadConfig(base).imap.tlsGroups, undefined);
});

test('TLS sessions: a server that leaves three offered sessions in a row unused is offered none for an hour; one that resumes keeps getting them', () => {
  let now = 1_000_000;
  const cache = new TlsSessionCache(10, () => now);
  const session = Buffer.from('a session');
  cache.set('never', session);
  cache.set('sometimes', session);
  for (let i = 0; i < TLS_RESUME_MISSES - 1; i++) cache.offered('never', false);
  assert.equal(cache.get('never'), session, 'two misses: still offered');
  cache.offered('never', false);
  assert.equal(cache.get('never'), undefined, 'the third: none offered');
  assert.equal(cache.offering('never'), false, 'and none kept');

  // A miss now and then between resumptions never adds up.
  for (let i = 0; i < 10; i++) {
    cache.offered('sometimes', false);
    cache.offered('sometimes', false);
    cache.offered('sometimes', true);
  }
  assert.equal(cache.get('sometimes'), session);

  now += TLS_RESUME_RETRY_MS;
  assert.equal(cache.offering('never'), true, 'an hour later it is tried again');
  cache.set('never', session);
  assert.equal(cache.get('never'), session);
});
