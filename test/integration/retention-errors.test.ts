// Checking whether a client's `since` fell behind retention must not turn a Redis error into "no":
// the client would then never hear resync_required. Only a missing stream means nothing was
// trimmed; any other error (here: the gateway's Redis user may not run XINFO) fails the request
// or closes the socket, so the client retries instead of silently missing events.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisEventLog } from '../../src/adapters/redis/event-log.js';
import { hashToken, newToken } from '../../src/core/tokens.js';
import { RedisKeys } from '../../src/keys.js';
import { api, StreamRecorder, type TestGateway } from '../helpers/gateway.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';

let redis: RedisServer;
let admin: Redis;
/** REDIS_URL of a user that may do everything but XINFO. */
let deniedUrl: string;
const fixtures = useFixtures();

before(async () => {
  redis = await fixtures.redis();
  admin = new Redis(redis.url);
  await admin.call('ACL', 'SETUSER', 'noxinfo', 'on', '>noxinfo-password', '~*', '&*', '+@all', '-xinfo');
  deniedUrl = `redis://noxinfo:noxinfo-password@127.0.0.1:${redis.port}`;
});

after(() => admin?.disconnect());

const retention = { maxEvents: 100, maxAgeMs: 3600_000 };

describe('RedisEventLog.isTrimmedAfter', () => {
  test('is false for a user without a stream, and rejects when Redis refuses XINFO', async () => {
    const keys = new RedisKeys('retention');
    const allowed = new RedisEventLog(admin, keys, retention);
    assert.equal(await allowed.isTrimmedAfter('usr_none', '1-0'), false, 'no stream: nothing trimmed');

    const client = new Redis(deniedUrl);
    try {
      const denied = new RedisEventLog(client, keys, retention);
      await assert.rejects(denied.isTrimmedAfter('usr_none', '1-0'), /NOPERM/);
      await admin.xadd(keys.events('usr_some'), '*', 'e', '{}');
      await assert.rejects(denied.isTrimmedAfter('usr_some', '1-0'), /NOPERM/);
    } finally {
      client.disconnect();
    }
  });
});

describe('a web process whose retention check fails', () => {
  let gateway: TestGateway;
  let token: string;

  before(async () => {
    gateway = await fixtures.gateway({ role: 'web', redisUrl: deniedUrl, imapPort: 1 });
    token = newToken();
    await gateway.adapters.users.create(hashToken(token));
  });

  test('answers GET /v1/events?since with a 5xx, not resyncRequired: false', async () => {
    const without = await api(gateway.url!, 'GET', '/v1/events', { token });
    assert.equal(without.status, 200, 'no since: no retention check');
    const response = await api(gateway.url!, 'GET', '/v1/events?since=1-0', { token });
    assert.equal(response.status, 500, JSON.stringify(response.body));
    assert.equal(response.body.error.code, 'internal_error');
  });

  test('closes a stream opened with since (1013, reconnect) instead of streaming on', async () => {
    const stream = StreamRecorder.open(gateway.url!, { token, since: '1-0' });
    const closed = await stream.waitForClose(5000);
    assert.equal(closed.code, 1013);
    assert.ok(!stream.messages.some((m) => m.type === 'resync_required'));
  });
});
