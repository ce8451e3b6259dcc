import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImapFlow } from 'imapflow';
import { SHARED_CAPABILITY_LIST_CHARS, shareCapabilities } from '../../src/imap/lean-imapflow.js';

/** A logged-in connection's capability fields, as imapflow leaves them (names parsed from the server's answer). */
function loggedIn(names: string[]) {
  return {
    capabilities: new Map(names.map((name) => [name, true] as [string, boolean])),
    rawCapabilities: names.map((value) => ({ type: 'ATOM', value })),
  };
}

test('the same capability list is shared; one too long to keep stays the connection\'s own', () => {
  const names = ['IMAP4rev1', 'IDLE', 'CONDSTORE', 'NOTIFY'];
  const [a, b] = [loggedIn(names), loggedIn(names)];
  shareCapabilities(a as unknown as ImapFlow);
  shareCapabilities(b as unknown as ImapFlow);
  assert.equal(a.capabilities, b.capabilities);
  assert.deepEqual([...b.capabilities.keys()], names);
  assert.deepEqual(b.rawCapabilities, names.map((value) => ({ type: 'ATOM', value })));

  // A hostile server's megabyte of capabilities must not outlive its connection in the cache.
  const huge = loggedIn(Array.from({ length: SHARED_CAPABILITY_LIST_CHARS / 10 }, (_, i) => `X-FILLER-${i}`));
  const own = huge.capabilities;
  shareCapabilities(huge as unknown as ImapFlow);
  const again = loggedIn([...own.keys()]);
  shareCapabilities(again as unknown as ImapFlow);
  assert.equal(huge.capabilities, own, 'kept its own Map');
  assert.notEqual(again.capabilities, huge.capabilities, 'nothing was cached for the next one');
});
