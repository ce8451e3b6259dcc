// The response limits of IMAP connections (src/imap/client.ts): consistent with each other and with
// what mailpush fetches, and a connection dropped for them is reported as such. The real drops
// against a hostile server are in test/integration/hostile-imap.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyImapError, IMAP_RESPONSE_LIMITS, isResponseLimitError, LOGIN_CHECK_LIMITS } from '../../src/imap/client.js';
import { SNIPPET_FETCH_BYTES } from '../../src/imap/snippet.js';

test('the limits leave room for what we fetch, and a response can carry the largest literal and line', () => {
  for (const limits of [IMAP_RESPONSE_LIMITS, LOGIN_CHECK_LIMITS]) {
    // imapflow counts a literal's marker line and framing into the response: equal would refuse it.
    assert.ok(limits.maxResponseSize > limits.maxLiteralSize, 'a maximum literal fits in a response');
    assert.ok(limits.maxResponseSize >= limits.maxLineLength, 'a maximum line fits in a response');
  }
  assert.ok(IMAP_RESPONSE_LIMITS.maxLiteralSize >= 100 * SNIPPET_FETCH_BYTES, 'a snippet is far below the literal limit');
  for (const key of Object.keys(IMAP_RESPONSE_LIMITS) as Array<keyof typeof IMAP_RESPONSE_LIMITS>) {
    assert.ok(LOGIN_CHECK_LIMITS[key] < IMAP_RESPONSE_LIMITS[key], `the registration check holds less: ${key}`);
    assert.ok(IMAP_RESPONSE_LIMITS[key] < 1024 ** 3 / 32, `far below imapflow's default: ${key}`);
  }
});

test('a connection dropped at a limit is response_too_large, with the reason; other errors are not', () => {
  // The shape imapflow gives these errors: a message and a stable code.
  for (const code of ['LiteralTooLarge', 'LineTooLarge', 'ResponseTooLarge', 'TooManyTokens']) {
    const error = Object.assign(new Error('Literal size 900000000 exceeds maximum allowed size of 4194304 bytes'), { code });
    assert.ok(isResponseLimitError(error), code);
    const classified = classifyImapError(error);
    assert.equal(classified.kind, 'response_too_large', code);
    assert.match(classified.message, /more than this gateway accepts in one response \(Literal size 900000000/);
  }
  for (const error of [Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), new Error('no code'), undefined, 'text']) {
    assert.equal(isResponseLimitError(error), false);
  }
  assert.equal(classifyImapError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).kind, 'unreachable');
});
