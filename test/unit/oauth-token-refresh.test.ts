// When a worker refreshes an OAuth account's access token: at the latest 60 s before it expires,
// and never in a loop for tokens that live shorter than that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REFRESH_MARGIN_MS, refreshDelayMs } from '../../src/oauth/token-refresh.js';

test('an hour-long token is refreshed 60 s before it expires', () => {
  const now = 1_000_000;
  assert.equal(refreshDelayMs(now + 3600_000, now), 3600_000 - REFRESH_MARGIN_MS);
});

test('a token shorter-lived than twice the margin is refreshed at half its remaining life, an expired one at once', () => {
  const now = 1_000_000;
  assert.equal(refreshDelayMs(now + 30_000, now), 15_000);
  assert.equal(refreshDelayMs(now + 8_000, now), 4_000);
  assert.equal(refreshDelayMs(now - 1, now), 0);
  assert.equal(refreshDelayMs(now, now), 0);
});
