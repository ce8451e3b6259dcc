// When a worker refreshes an OAuth account's access token (at the latest 60 s before it expires,
// never in a loop for short-lived tokens), and that its tokens never reach a log line.
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

test('OAuth tokens are blanked out of log lines, at the top level and nested', async () => {
  const { Writable } = await import('node:stream');
  const { createLogger } = await import('../../src/logger.js');
  let out = '';
  const log = createLogger('info', new Writable({ write(chunk, _encoding, done) { out += String(chunk); done(); } }));
  log.info({ grant: { accessToken: 'AT-SECRET', refreshToken: 'RT-SECRET' }, accessToken: 'AT2-SECRET' }, 'grant');
  assert.ok(out.includes('[redacted]'));
  assert.ok(!out.includes('SECRET'), out);
});
