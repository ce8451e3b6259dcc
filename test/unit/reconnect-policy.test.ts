// After a failed connection: a wrong password waits the long auth pause without growing the
// backoff, a setting that cannot work waits the longest pause and shows `error`, a server past the
// response limits shows `error` but backs off like any fault, and a network fault backs off.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config.js';
import { ImapConnectError } from '../../src/imap/client.js';
import { planRetry } from '../../src/roles/worker/reconnect-policy.js';

const { imap } = loadConfig({
  REDIS_URL: 'redis://127.0.0.1:6390', MAILPUSH_SECRET: 'a-secret-of-enough-length-for-32-characters',
  IMAP_RECONNECT_MIN_SECONDS: '1', IMAP_RECONNECT_MAX_SECONDS: '300', IMAP_AUTH_RETRY_SECONDS: '3600',
});

test('a rejected password is never retried on the backoff: the auth pause, and the step does not grow', () => {
  const plan = planRetry(Object.assign(new Error('no'), { authenticationFailed: true }), 4, imap);
  assert.deepEqual([plan.state, plan.delayMs, plan.nextAttempt], ['auth_failed', imap.authRetryMs, 4]);
});

test('a setting that cannot work shows error and waits the longest pause', () => {
  for (const kind of ['host_not_allowed', 'port_not_allowed', 'insecure_not_allowed', 'mailbox_missing', 'mechanism_not_offered'] as const) {
    const plan = planRetry(new ImapConnectError(kind, `bad ${kind}`), 0, imap);
    assert.deepEqual([plan.state, plan.error, plan.delayMs, plan.nextAttempt], ['error', `bad ${kind}`, imap.reconnectMaxMs, 0], kind);
  }
});

test('a response past the limits shows error but backs off like a fault; a network fault shows reconnecting', () => {
  const tooLarge = planRetry(new ImapConnectError('response_too_large', 'too much'), 0, imap);
  assert.equal(tooLarge.state, 'error');
  assert.equal(tooLarge.nextAttempt, 1);
  assert.ok(tooLarge.delayMs <= imap.reconnectMinMs * 2, `first step is short, got ${tooLarge.delayMs} ms`);
  const refused = planRetry(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 10, imap);
  assert.equal(refused.state, 'reconnecting');
  assert.equal(refused.nextAttempt, 11);
  assert.ok(refused.delayMs <= imap.reconnectMaxMs && refused.delayMs > tooLarge.delayMs, `later steps wait longer, got ${refused.delayMs} ms`);
});
