// Property-based fuzzing of the whole public surface (fast-check): every operation in the gateway's
// own /openapi.json, and the WebSocket protocol of GET /v1/stream, against a real gateway (embedded,
// then Redis) with real Dovecot accounts. Whatever arrives:
//   - never a 5xx (but the documented 502 imap_unreachable of a login to a closed loopback port), and
//     every error is {"error": {"code", "message"}} with a documented code and status, no stack trace
//     or source path;
//   - the process lives (GET /healthz answers) and no prototype got polluted;
//   - a refused request changes nothing the user has stored (accounts with their sealed password,
//     push subscriptions, events), and bob, whose token the fuzzer never holds, is never touched;
//   - no answer shows a token, or the other user's ids or address;
//   - only the fuzzed user's token ever opens a stream, and every socket (and in Redis mode its live
//     subscription) is released when closed;
//   - the gateway never tries to connect anywhere but loopback.
//
// Fixed seed; FUZZ_SEED=<n> replays another run and FUZZ_RUNS=<n> sets the HTTP cases per gateway
// mode (the stream gets a third as many). A failure prints the seed, the case and the counterexample
// path; FUZZ_TRACE=1 prints each request as it is sent. Each bug the fuzzer found stays below as a
// fixed regression example.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_STATUS, type ErrorCode } from '../../src/protocol/errors.js';
import { CloseCode } from '../../src/protocol/stream.js';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { outboundTripwire, snapshot, startFuzzWorld, subscriptionKeys, type FuzzWorld } from '../helpers/fuzz-world.js';
import { fuzzRequests, operationsOf, type FuzzRequest, type OpenApiDocument } from '../helpers/openapi-fuzz.js';
import { sendRaw, type RawResponse } from '../helpers/raw-http.js';
import type { RedisServer } from '../helpers/redis.js';
import { carriesToken, playStreamCase, streamCases, type StreamCase, type StreamOutcome } from '../helpers/stream-fuzz.js';
import { waitFor } from '../helpers/wait.js';

const SEED = whole('FUZZ_SEED', 20261217);
// About 2,100 cases in all (HTTP and stream, both gateways): 10-15 s here, under 30 s when the
// machine is shared.
const RUNS = whole('FUZZ_RUNS', 800);
const STREAM_RUNS = Math.max(1, Math.round(RUNS / 3));

function whole(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a whole number, not ${process.env[name]}`);
  return value;
}

const fixtures = useFixtures();
let dovecot: Dovecot;
let redis: RedisServer;
const tripwire = outboundTripwire();
after(() => tripwire.stop());

before(async () => {
  [dovecot, redis] = await Promise.all([fixtures.dovecot(), fixtures.redis()]);
});

/** Bugs the fuzzer found, replayed first on every run (see the commit that fixed each). */
function regressions(world: FuzzWorld): FuzzRequest[] {
  return [
    // A plain GET on the WebSocket route: @fastify/websocket answered a bare 404 without a body.
    { method: 'GET', path: '/v1/stream?since=&heartbeat=10', headers: { 'content-type': 'application/json' }, operation: 'GET /v1/stream' },
    // A request line over Node's 16 KiB header limit: Fastify's default client-error answer (431) was its own JSON shape.
    { method: 'GET', path: `/v1/stream?since=&heartbeat=10&__proto__=${'x'.repeat(16276)}`, headers: { 'content-type': 'application/json' }, operation: 'GET /v1/stream' },
    // The same as HEAD: the answer's body broke the client's parser (a HEAD's answer has none).
    { method: 'HEAD', path: `/v1/accounts?=${'x'.repeat(16272)}`, headers: { 'content-type': 'application/json; charset=utf-16' }, body: '', operation: 'POST /v1/accounts' },
    // A path that does not percent-decode: Fastify's router answered FST_ERR_BAD_URL in its own shape.
    { method: 'PATCH', path: '/v1/accounts/%', headers: { authorization: `Bearer ${world.alice.token}`, 'content-type': 'application/json' }, body: '', operation: 'PATCH /v1/accounts/{id}' },
    // A path parameter over Fastify's maxParamLength (100): FST_ERR_MAX_PARAM_LENGTH, 414 in Fastify's shape.
    { method: 'GET', path: `/v1/accounts/${'a'.repeat(101)}`, headers: { authorization: `Bearer ${world.alice.token}` }, operation: 'GET /v1/accounts/{id}' },
    // A WebSocket upgrade without a valid Sec-WebSocket-Key, to any route: ws answered 400 in plain text.
    { method: 'GET', path: `/v1/accounts/${world.alice.accountId}`, headers: { authorization: `Bearer ${world.alice.token}`, connection: 'Upgrade', upgrade: 'websocket' }, operation: 'GET /v1/accounts/{id}' },
    // ... and not a GET: 405 in plain text.
    { method: 'POST', path: '/v1/accounts', headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }, operation: 'POST /v1/accounts' },
    // An upgrade to a path that does not decode, with a 64 KiB body: the answer never came, and the
    // connection stayed open for ever (holding up the gateway's shutdown).
    {
      method: 'GET', path: '/v1/admin/users/%ff%fe/events?limit=0', operation: 'GET /v1/admin/users/{userId}/events', body: `{"pad":"${'p'.repeat(65485)}"}`,
      headers: { authorization: `Bearer ${world.alice.token}`, 'content-type': '*/*', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '8', 'sec-websocket-key': '' },
    },
    // TLS to a plaintext IMAP port: the 502 showed OpenSSL's message with its source path (tlsany_meth.c:77).
    {
      method: 'POST', path: '/v1/accounts', headers: { authorization: `Bearer ${world.alice.token}`, 'content-type': 'application/json' }, operation: 'POST /v1/accounts',
      body: JSON.stringify({ imap: { host: '127.0.0.1', port: world.dovecotPort, security: 'tls', user: ' ', pass: ' ' }, email: 'a@a.aa', mailboxes: [' '] }),
    },
  ];
}

function streamRegressions(world: FuzzWorld): StreamCase[] {
  // Dropped right after the upgrade, while the gateway was still subscribing to the live feed
  // (Redis mode): the subscription outlived the socket (PUBSUB NUMSUB stayed above 0).
  const authorization = `Bearer ${world.alice.token}`;
  return [0, 1, 2, 5].map((delayMs) => ({ query: '', authorization, frames: [], end: { kind: 'drop', afterFrames: 0, delayMs } }));
}

/** The answer must be one a client can handle: never a 5xx; a 4xx in the one documented shape. */
function checkAnswer(request: FuzzRequest, response: RawResponse): void {
  // The one 5xx allowed: a registration whose IMAP server cannot be reached (the fuzzer points
  // logins at a closed loopback port on purpose) is a documented 502 imap_unreachable.
  const upstream = response.status === 502 && /"code":"imap_unreachable"/.test(response.text);
  assert.ok(response.status < 500 || upstream, `answered ${response.status}: ${response.text.slice(0, 300)}`);
  assert.doesNotMatch(response.text, /\n\s+at .+:\d+:\d+|node_modules\/|\/src\/roles\/|\.(c|js|ts):\d+/, 'the answer shows a stack trace or a source path');
  if (response.status < 400 || request.method === 'HEAD') return;
  // (502 imap_unreachable included: its shape is checked like a 4xx's.)
  assert.match(String(response.headers['content-type']), /^application\/json/, `a ${response.status} that is not JSON: ${response.text.slice(0, 200)}`);
  const body = JSON.parse(response.text) as { error?: { code?: unknown; message?: unknown } };
  assert.deepEqual(Object.keys(body), ['error'], `not the error shape: ${response.text.slice(0, 200)}`);
  assert.deepEqual(Object.keys(body.error!).sort(), ['code', 'message'], `not the error shape: ${response.text.slice(0, 200)}`);
  const code = body.error!.code as ErrorCode;
  assert.equal(typeof body.error!.message, 'string');
  assert.ok(code in ERROR_STATUS, `undocumented error code ${String(code)}`);
  // invalid_request also stands for the other 4xx Fastify answers itself (README error table).
  assert.ok(ERROR_STATUS[code] === response.status || code === 'invalid_request', `${code} with status ${response.status}`);
}

/**
 * No answer carries a token (not even the caller's own, echoed), and none carries the other user's
 * ids or address unless the request named them itself or came with the admin token.
 */
function checkNoLeak(world: FuzzWorld, request: FuzzRequest, answer: string): void {
  for (const token of [world.alice.token, world.bob.token, world.adminToken]) assert.ok(!answer.includes(token), 'the answer shows a token');
  if (request.headers.authorization?.includes(world.adminToken)) return;
  const asked = `${request.path} ${request.body ?? ''}`;
  for (const value of [world.bob.accountId, world.bob.subscriptionId, world.bob.userId, world.bob.email]) {
    assert.ok(asked.includes(value) || !answer.includes(value), `the answer shows bob's ${value}`);
  }
}

async function snapshots(world: FuzzWorld) {
  const { adapters } = world.gateway;
  const [alice, bob] = await Promise.all([snapshot(adapters, world.alice.userId, { strict: false }), snapshot(adapters, world.bob.userId, { strict: true })]);
  return { alice, bob };
}

/**
 * The gateway runs in this process, so a crash would end the test at once; /healthz is asked every
 * so many cases (and after the last) to see that it still serves.
 */
async function checkAlive(world: FuzzWorld, cases: number, every = 20): Promise<void> {
  if (cases % every === 0) {
    const health = await sendRaw(world.base, { method: 'GET', path: '/healthz', headers: {}, operation: 'health' }, world.agent);
    assert.equal(health.status, 200, 'the gateway stopped answering /healthz');
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
  assert.deepEqual(tripwire.attempts, [], 'the gateway tried to connect to something other than loopback');
}

/** A value for a report: long runs of one character shortened, so a 60 KiB body fits on a line. */
function abbreviate(value: unknown): string {
  return JSON.stringify(value, null, 1).replace(/(.)\1{40,}/gs, (run, c: string) => `${c.repeat(3)}…(${run.length}×)`).slice(0, 4000);
}

/** Runs a property with the fixed seed; a failure names the seed, the case and the broken check. */
async function assertProperty<T>(what: string, property: fc.IAsyncProperty<[T]>, runs: number, examples: T[]): Promise<void> {
  const started = Date.now();
  const details = await fc.check(property, { seed: SEED, numRuns: runs + examples.length, examples: examples.map((e) => [e] as [T]) });
  if (details.failed) {
    const error = details.errorInstance as Error | undefined;
    assert.fail(`${what}: failed with FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} (fast-check path ${details.counterexamplePath}) after ${details.numRuns} cases, shrunk ${details.numShrinks} times.\n`
      + `Broken: ${error?.message ?? String(details.errorInstance)}\nCase: ${abbreviate(details.counterexample?.[0])}`);
  }
  console.log(`# ${what}: ${details.numRuns} cases in ${Date.now() - started} ms (seed ${SEED})`);
}

for (const mode of ['embedded', 'redis'] as const) {
  describe(`fuzzing a ${mode} gateway`, () => {
    let world: FuzzWorld;
    let document: OpenApiDocument;

    before(async () => {
      world = await startFuzzWorld(fixtures, dovecot, mode === 'redis' ? redis : undefined);
      document = JSON.parse((await sendRaw(world.base, { method: 'GET', path: '/openapi.json', headers: {}, operation: 'doc' }, world.agent)).text) as OpenApiDocument;
    });
    after(() => world?.agent.destroy());

    test('every operation in /openapi.json: no 5xx, the error shape, alive, nothing changed by a refused request', async () => {
      assert.ok(operationsOf(document).length >= 15, 'the document lists the routes');
      const ctx = {
        knownIds: [world.alice.accountId, world.alice.subscriptionId, world.alice.userId, world.bob.accountId, world.bob.subscriptionId, world.bob.userId],
        authHeaders: [`Bearer ${world.alice.token}`, `Bearer ${world.alice.token}`, `Bearer ${world.adminToken}`],
        outbound: {
          host: fc.constantFrom('127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1', 'localhost', '::1', '[::1]', '10.0.0.1', '169.254.169.254', '0.0.0.0', '2130706433', '0x7f000001', '::ffff:127.0.0.1', '64:ff9b::a00:1', 'bad host', '', 'a'.repeat(254), '127.0.0.1:143', 'http://127.0.0.1'),
          endpoint: fc.oneof(
            fc.constantFrom(`https://127.0.0.1:${world.closedPort}`, `https://[::1]:${world.closedPort}/x`, 'http://127.0.0.1/x', 'ftp://127.0.0.1/', 'https://user:pw@127.0.0.1/', 'not a url', 'https://', ''),
            fc.webPath().map((p) => `https://127.0.0.1:${world.closedPort}${p}`),
          ),
        },
        hints: {
          p256dh: fc.constant(subscriptionKeys().p256dh),
          auth: fc.constant(subscriptionKeys().auth),
          port: fc.constantFrom(dovecot.imapPort, world.closedPort, 143, 993),
          pass: fc.constantFrom('wrong'),
          // Subscriptions that name the user's own accounts, and the other user's.
          accounts: fc.subarray([world.alice.accountId, world.bob.accountId]),
        },
        bodyLimitBytes: world.gateway.config.web.bodyLimitBytes,
      };
      let before = await snapshots(world);
      let cases = 0;
      const statuses = new Map<number, number>();
      const property = fc.asyncProperty(fuzzRequests(document, ctx), async (request) => {
        // FUZZ_TRACE=1 prints every request as it goes, to find one that hangs.
        if (process.env.FUZZ_TRACE) console.error(`> ${abbreviate(request).replace(/\s+/g, ' ').slice(0, 400)}`);
        const response = await sendRaw(world.base, request, world.agent);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        checkAnswer(request, response);
        checkNoLeak(world, request, response.text);
        const [previous, now] = [before, await snapshots(world)];
        before = now;
        assert.equal(now.bob, previous.bob, 'bob\'s stored state changed');
        if (response.status >= 400) assert.equal(now.alice, previous.alice, `a refused request (${response.status}) changed what alice has stored`);
        await checkAlive(world, ++cases);
      });
      await assertProperty(`HTTP (${mode})`, property, RUNS, regressions(world));
      await checkAlive(world, 0);
      console.log(`# statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
      // The fuzzer reached past validation, not only the schema's 400s.
      assert.ok([...statuses.keys()].some((s) => s >= 200 && s < 300) && statuses.has(404) && statuses.has(401), 'the fuzzer got past the schemas');
    });

    test('GET /v1/stream: only the token opens it, every other client is closed with a protocol code, sockets are released', async () => {
      const ctx = { token: world.alice.token, eventIds: world.alice.eventIds };
      const outcomes = new Map<string, number>();
      const before = await snapshots(world);
      let cases = 0;
      const property = fc.asyncProperty(streamCases(ctx), async (c) => {
        const outcome: StreamOutcome = await playStreamCase(world.base, c);
        const label = outcome.ready ? 'ready' : outcome.httpStatus ? `http ${outcome.httpStatus}` : `close ${outcome.closeCode}`;
        outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
        assert.ok(outcome.httpStatus === undefined || outcome.httpStatus < 500, `the upgrade was answered ${outcome.httpStatus}: ${outcome.httpBody}`);
        for (const text of outcome.received) {
          for (const value of [world.bob.accountId, world.bob.email, world.bob.token, world.alice.token]) assert.ok(!text.includes(value), `the stream sent ${value}`);
        }
        if (outcome.ready) {
          assert.ok(carriesToken(c, world.alice.token), 'a stream opened without the user\'s token');
          // Unless a frame the client sent with it was too big or not UTF-8, which closes any WebSocket.
          if (c.end.kind === 'await') assert.ok(outcome.pong || [1002, 1007, 1009].includes(outcome.closeCode!), `a ready stream did not answer its ping (closed ${outcome.closeCode})`);
        } else if (c.end.kind === 'await' && outcome.httpStatus === undefined) {
          // 4400/4401 by the protocol; 1009 (frame too big) and 1002/1007 (not UTF-8) by the WebSocket layer.
          const allowed: number[] = [CloseCode.badMessage, CloseCode.unauthorized, 1002, 1007, 1009];
          assert.ok(allowed.includes(outcome.closeCode!), `closed with ${outcome.closeCode}`);
        }
        await checkAlive(world, ++cases, 5);
      });
      await assertProperty(`stream (${mode})`, property, STREAM_RUNS, streamRegressions(world));
      await checkAlive(world, 0);
      console.log(`# stream outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
      // Every socket, however it ended, is released by the gateway.
      await waitFor(() => world.gateway.app!.websocketServer.clients.size === 0, { what: 'the gateway to release every socket' });
      if (mode === 'redis') {
        // ... and its live subscription, even for a socket dropped while that was being set up.
        const { redis: client, keys } = world.gateway.adapters;
        const channel = keys!.liveChannel(world.alice.userId);
        await waitFor(async () => Number(((await client!.pubsub('NUMSUB', channel)) as [string, number])[1]) === 0, { what: 'every closed socket\'s live subscription to be dropped' });
      }
      const after = await snapshots(world);
      assert.equal(after.alice, before.alice, 'a stream changed what alice has stored');
      assert.equal(after.bob, before.bob, 'a stream changed what bob has stored');
    });
  });
}
