import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, createSecureContext, createServer, type Server, type TLSSocket } from 'node:tls';
import { loadConfig } from '../../src/config.js';
import { learnFromHandshake, TLS_HYBRID_RETRY_MS, TLS_RESUME_MISSES, TLS_RESUME_RETRY_MS, TlsServerMemory, tlsOptionsFor } from '../../src/imap/tls-context.js';
import { createTestCa, type TestCa } from '../helpers/test-ca.js';

/** OpenSSL 3.5 (Node 24) knows the post-quantum hybrid and offers it first; 3.0 (Node 22) does not. */
const hybridKnown = (() => {
  try {
    createSecureContext({ ecdhCurve: 'X25519MLKEM768' });
    return true;
  } catch {
    return false;
  }
})();

const base = { REDIS_URL: 'redis://127.0.0.1:6390', MAILPUSH_SECRET: 'a-secret-of-enough-length-for-32-characters' };

/**
 * A TLS server on a free loopback port, certified by `ca` for localhost, that greets like IMAP and
 * closes; with `ecdhCurve`, limited to those groups.
 */
async function greetingServer(ca: TestCa, dir: string, ecdhCurve?: string): Promise<{ server: Server; port: number }> {
  const { certFile, keyFile } = await ca.issue(dir);
  const keys = { cert: await readFile(certFile), key: await readFile(keyFile) };
  const server = createServer({ ...keys, ...(ecdhCurve ? { ecdhCurve } : {}) }, (socket) => socket.end('* OK ready\r\n'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

test('IMAP_TLS_GROUPS: the key exchange an IMAP server agrees to is one of the groups offered; by default the post-quantum hybrid where OpenSSL has it', async () => {
  const ca = await createTestCa();
  const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-tls-groups-'));
  // A server that accepts every group this OpenSSL knows, as one on a current OpenSSL would.
  const { server, port } = await greetingServer(ca, dir);
  const agreed = async (env: Record<string, string>) => {
    const imap = loadConfig({ ...base, IMAP_TLS_CA_FILE: ca.caFile, ...env }).imap;
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...tlsOptionsFor(imap, `127.0.0.1|${port}|localhost`) });
    await once(socket, 'secureConnect');
    const name = socket.getEphemeralKeyInfo();
    socket.destroy();
    return (name as { name?: string }).name;
  };
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
  const cache = new TlsServerMemory(10, () => now);
  const session = Buffer.from('a session');
  cache.set('never', session);
  cache.set('sometimes', session);
  for (let i = 0; i < TLS_RESUME_MISSES - 1; i++) cache.offered('never', false);
  assert.deepEqual(cache.get('never'), session, 'two misses: still offered');
  cache.offered('never', false);
  assert.equal(cache.get('never'), undefined, 'the third: none offered');
  assert.equal(cache.offering('never'), false, 'and none kept');

  // A miss now and then between resumptions never adds up.
  for (let i = 0; i < 10; i++) {
    cache.offered('sometimes', false);
    cache.offered('sometimes', false);
    cache.offered('sometimes', true);
  }
  assert.deepEqual(cache.get('sometimes'), session);

  now += TLS_RESUME_RETRY_MS;
  assert.equal(cache.offering('never'), true, 'an hour later it is tried again');
  cache.set('never', session);
  assert.deepEqual(cache.get('never'), session);
});

test('TLS sessions: each connection is offered its own copy, whose bytes are freed after the login; the kept session is not a slice of Node\'s Buffer pool', async () => {
  const ca = await createTestCa();
  const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-tls-sessions-'));
  // Node's TLS server resumes the TLS 1.3 tickets it issued, as a Dovecot login process in high-performance mode does.
  const { server, port } = await greetingServer(ca, dir);
  const key = `127.0.0.1|${port}|localhost`;
  const imap = loadConfig({ ...base, IMAP_TLS_CA_FILE: ca.caFile }).imap;
  const login = async () => {
    const options = tlsOptionsFor(imap, key);
    const offered = options.session;
    const offeredBytes = offered ? Buffer.from(offered) : undefined;
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
    await once(socket, 'secureConnect');
    // Read to the server's end, as a login does: a TLS 1.3 server sends its tickets after the handshake.
    socket.resume();
    await once(socket, 'end');
    const resumed = socket.isSessionReused();
    learnFromHandshake(imap, key, socket, options);
    socket.destroy();
    return { offered, offeredBytes, resumed };
  };
  try {
    const first = await login();
    assert.equal(first.offered, undefined, 'nothing to offer the first time');
    const second = await login();
    const third = await login();
    for (const later of [second, third]) {
      assert.ok(later.offeredBytes && later.offeredBytes.length > 100, 'a session is offered');
      assert.equal(later.resumed, true, 'and the server resumed it');
      assert.equal(later.offered!.length, 0, 'after the login its bytes are gone from the options the connection keeps');
    }
    const next = tlsOptionsFor(imap, key).session as Buffer;
    assert.equal(next.buffer.byteLength, next.length, 'a copy in memory of its own: detaching it frees only it');
    // What is kept per server is a copy too, not the slice of shared memory it was given.
    const memory = new TlsServerMemory();
    memory.set('a server', Buffer.alloc(4096, 1).subarray(0, 1200));
    const kept = memory.get('a server')!;
    assert.ok(kept.length === 1200 && kept.buffer.byteLength === 1200 && kept.every((byte) => byte === 1));

    // A session in options not made here (as a slice of Node's pool would be) is never detached:
    // that would empty every other Buffer on the same memory.
    const shared = Buffer.alloc(third.offeredBytes!.length + 64);
    const slice = shared.subarray(0, third.offeredBytes!.length);
    third.offeredBytes!.copy(slice);
    const neighbour = shared.subarray(slice.length).fill(7);
    learnFromHandshake(imap, key, undefined, { session: slice });
    assert.deepEqual(slice, third.offeredBytes);
    assert.ok(neighbour.length === 64 && neighbour.every((byte) => byte === 7));
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
    await ca.cleanup();
  }
});

test('key exchange: a server that answers the post-quantum hybrid with a classical group is offered classical groups only, for an hour; one that takes the hybrid keeps it', async () => {
  const ca = await createTestCa();
  const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-tls-adapt-'));
  // One like Dovecot on OpenSSL 3.0, and one that accepts everything this OpenSSL knows.
  const { server: classicalServer } = await greetingServer(ca, dir, 'X25519:P-256');
  const { server: modernServer } = await greetingServer(ca, dir);
  const login = async (imap: ReturnType<typeof loadConfig>['imap'], server: typeof classicalServer) => {
    const { port } = server.address() as AddressInfo;
    const key = `127.0.0.1|${port}|localhost`;
    const options = tlsOptionsFor(imap, key);
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
    await once(socket, 'secureConnect');
    learnFromHandshake(imap, key, socket, options);
    const group = (socket.getEphemeralKeyInfo() as { name?: string }).name;
    socket.destroy();
    return { group, context: options.secureContext };
  };
  try {
    const imap = loadConfig({ ...base, IMAP_TLS_CA_FILE: ca.caFile }).imap;
    const toClassical = [await login(imap, classicalServer), await login(imap, classicalServer), await login(imap, classicalServer)];
    assert.deepEqual(toClassical.map((l) => l.group), ['X25519', 'X25519', 'X25519'], 'the classical server is reached every time');
    const toModern = [await login(imap, modernServer), await login(imap, modernServer)];
    if (hybridKnown) {
      assert.notEqual(toClassical[1]!.context, toClassical[0]!.context, 'after its first answer it is offered another group list');
      assert.equal(toClassical[2]!.context, toClassical[1]!.context);
      assert.deepEqual(toModern.map((l) => l.group), ['X25519MLKEM768', 'X25519MLKEM768'], 'a server that takes the hybrid keeps getting it');
      assert.equal(toModern[1]!.context, toClassical[0]!.context);
      // What the classical server is now offered leaves the hybrid out: even a server that takes it agrees on X25519.
      const { port } = modernServer.address() as AddressInfo;
      const probe: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'localhost', secureContext: toClassical[1]!.context });
      await once(probe, 'secureConnect');
      assert.equal((probe.getEphemeralKeyInfo() as { name?: string }).name, 'X25519');
      probe.destroy();
    } else {
      // OpenSSL 3.0 (Node 22) has no hybrid: one group list for every server.
      assert.ok([...toClassical, ...toModern].every((l) => l.context === toClassical[0]!.context));
    }

    // Groups the operator chose are offered to every server as they are.
    const chosen = loadConfig({ ...base, IMAP_TLS_CA_FILE: ca.caFile, IMAP_TLS_GROUPS: 'X25519:P-256' }).imap;
    const first = await login(chosen, classicalServer);
    assert.equal((await login(chosen, classicalServer)).context, first.context);
  } finally {
    classicalServer.close();
    modernServer.close();
    await rm(dir, { recursive: true, force: true });
    await ca.cleanup();
  }
});

test('key exchange memory: a classical answer lasts an hour, a hybrid one clears it', () => {
  let now = 5_000_000;
  const memory = new TlsServerMemory(10, () => now);
  memory.agreed('a', 'X25519');
  assert.equal(memory.classical('a'), true);
  now += TLS_HYBRID_RETRY_MS - 1;
  assert.equal(memory.classical('a'), true);
  now += 1;
  assert.equal(memory.classical('a'), false, 'an hour later the hybrid is offered again');
  memory.agreed('a', 'X25519');
  memory.agreed('a', 'X25519MLKEM768');
  assert.equal(memory.classical('a'), false, 'a server that took it gets it');
  memory.agreed('b', undefined);
  assert.equal(memory.classical('b'), false, 'no answer read: nothing learnt');
});
