// The stream's edges: a `since` older than retention, and a client that stops reading. Events are
// appended through the real event log (Redis), exactly as a worker appends them.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';
import { StreamRecorder, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import { hashToken, newToken } from '../../src/core/tokens.js';
import type { Lease } from '../../src/core/ports.js';
import type { NewEvent } from '../../src/core/types.js';

let redis: RedisServer;
let gateway: TestGateway;

const fixtures = useFixtures();

before(async () => {
  redis = await fixtures.redis();
  gateway = await fixtures.gateway({ role: 'web', redisUrl: redis.url, imapPort: 1 });
});

async function userWithLease(): Promise<{ token: string; lease: Lease }> {
  const token = newToken();
  const userId = await gateway.adapters.users.create(hashToken(token));
  const lease = await gateway.adapters.leases.acquire({ userId, accountId: 'acc_limits' }, 'test-writer', 60_000);
  assert.ok(lease);
  return { token, lease };
}

function mailEvent(uid: number, subject: string): NewEvent<'mail.new'> {
  return {
    type: 'mail.new', accountId: 'acc_limits', mailbox: 'INBOX', time: new Date().toISOString(),
    data: { uid, uidValidity: '1', messageId: null, from: { name: '', address: 'a@example.test' }, subject, date: null, snippet: null, unseen: uid, catchUp: false },
  };
}

test('a since older than retention gets resync_required before the events that are left', async () => {
  const { token, lease } = await userWithLease();
  const first = await gateway.adapters.eventLog.append({ lease, events: [1, 2, 3].map((uid) => mailEvent(uid, `s${uid}`)) });
  assert.ok(first.ok);
  // Retention drops the oldest two (as MAXLEN would once the log is long).
  await gateway.adapters.redis!.xtrim((await gateway.adapters.redis!.keys('*:events'))[0]!, 'MAXLEN', 1);
  const stale = StreamRecorder.open(gateway.url!, { token, since: first.ids[0]! });
  await stale.waitFor((m) => m.data?.uid === 3, 5000, 'the remaining event');
  assert.deepEqual(stale.messages.map((m) => m.type), ['ready', 'resync_required', 'mail.new']);
  const fresh = StreamRecorder.open(gateway.url!, { token, since: first.ids[2]! });
  await fresh.waitFor((m) => m.type === 'ready');
  // A sentinel event: a resync_required for this client would have come before it.
  assert.ok((await gateway.adapters.eventLog.append({ lease, events: [mailEvent(4, 'sentinel')] })).ok);
  await fresh.waitFor((m) => m.data?.uid === 4, 5000, 'the sentinel');
  assert.deepEqual(fresh.messages.map((m) => m.type), ['ready', 'mail.new'], 'an up-to-date client is not told to resync');
  stale.close();
  fresh.close();
});

test('a client that stops reading is closed with 1013 instead of being buffered without limit', async () => {
  const { token, lease } = await userWithLease();
  const slow = StreamRecorder.open(gateway.url!, { token });
  await slow.waitFor((m) => m.type === 'ready');
  // One round trip, so the server has finished setting the stream up before the client stalls.
  slow.socket.send('{"type":"ping"}');
  await slow.waitFor((m) => m.type === 'pong', 5000, 'pong');
  // The phone stops reading (its TCP window fills), while 16 MB of events pile up for it.
  const raw = (slow.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  raw.pause();
  const big = 'x'.repeat(64 * 1024);
  for (let batch = 0; batch < 32; batch++) {
    const result = await gateway.adapters.eventLog.append({ lease, events: Array.from({ length: 8 }, (_, i) => mailEvent(batch * 8 + i + 1, big)) });
    assert.ok(result.ok);
  }
  // The server gives up on the socket while the client still does not read.
  // (Its close handshake can only finish once the client reads again.)
  const open = () => [...gateway.app!.websocketServer.clients].filter((client) => client.readyState === client.OPEN).length;
  await waitFor(() => open() === 0, { timeoutMs: 10_000, what: 'the server to close the stalled stream' });
  raw.resume();
  const closed = await slow.waitForClose(10_000);
  assert.equal(closed.code, 1013);
  assert.match(closed.reason, /not reading/);
  assert.ok(slow.events('mail.new').length < 256, 'it was cut off before everything was sent');
});

test('a page that cannot see protocol pings checks the stream with {"type":"ping"} and gets {"type":"pong"}; other chatter is ignored', async () => {
  const { token } = await userWithLease();
  const stream = StreamRecorder.open(gateway.url!, { token });
  await stream.waitFor((m) => m.type === 'ready', 5000, 'ready');
  stream.socket.send('{"type":"hello"}');
  stream.socket.send('{"type":"ping"}');
  await stream.waitFor((m) => m.type === 'pong', 5000, 'pong');
  assert.deepEqual(stream.messages.map((m) => m.type), ['ready', 'pong'], 'exactly one answer, to the ping');
  assert.equal(stream.closeCode, undefined, 'the socket stays open');
  stream.close();
});
