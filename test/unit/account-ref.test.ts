import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAccountRef, parseAccountRef } from '../../src/core/account-ref.js';

test('an account ref is "<userId>/<accountId>" and reads back as itself', () => {
  const ref = { userId: 'usr_abc', accountId: 'acc_def' };
  assert.equal(formatAccountRef(ref), 'usr_abc/acc_def');
  assert.deepEqual(parseAccountRef(formatAccountRef(ref)), ref);
  assert.deepEqual(parseAccountRef('usr_a/acc/b'), { userId: 'usr_a', accountId: 'acc/b' }, 'split at the first slash');
});

test('text without a user id before a slash is not a ref', () => {
  for (const text of ['', 'usr_a', '/acc_b']) assert.equal(parseAccountRef(text), undefined, text);
});
