// src/protocol is the one definition of the wire format, loaded by the server and by the browser:
// it must stay free of imports from elsewhere, and the README's lists must say what it says.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { ERROR_STATUS } from '../../src/protocol/errors.js';
import { EVENT_TYPES } from '../../src/protocol/events.js';
import { batchNotificationTag, notificationTag } from '../../src/protocol/push.js';
import { CloseCode } from '../../src/protocol/stream.js';

const root = new URL('../../../', import.meta.url);
const readme = () => readFile(new URL('README.md', root), 'utf8');

test('the README lists every error code with its status, and no other', async () => {
  const rows = [...(await readme()).matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((match) => [match[1], Number(match[2])]);
  assert.deepEqual(Object.fromEntries(rows), ERROR_STATUS);
  assert.equal(rows.length, Object.keys(ERROR_STATUS).length, 'a code is listed twice');
});

test('the README names every event type', async () => {
  const sentence = /with\s+types ([^\n]+)/.exec(await readme())?.[1] ?? '';
  assert.deepEqual([...sentence.matchAll(/`([a-z.]+)`/g)].map((match) => match[1]).sort(), [...EVENT_TYPES].sort());
});

test('the README names the close codes the gateway sends', async () => {
  const paragraph = /`GET \/v1\/stream` answers over the socket[^]*?\n\n/.exec(await readme())?.[0] ?? '';
  const sent = [CloseCode.goingAway, CloseCode.tryAgainLater, CloseCode.badMessage, CloseCode.unauthorized];
  for (const code of sent) assert.match(paragraph, new RegExp(`\\b${code}\\b`), `close code ${code}`);
});

test('notification tags: one per message, one per account and mailbox for batches', () => {
  assert.equal(notificationTag('acc1', 'INBOX', 42), 'acc1:INBOX:42');
  assert.equal(notificationTag('acc1', null, 42), 'acc1::42');
  assert.equal(batchNotificationTag('acc1', 'INBOX'), 'acc1:INBOX:batch');
});

test('protocol files import only each other, so a browser can load them as they are', async () => {
  const dir = new URL('src/protocol/', root);
  const files = (await readdir(dir)).filter((name) => name.endsWith('.ts'));
  assert.ok(files.length > 0);
  for (const file of files) {
    const source = await readFile(new URL(file, dir), 'utf8');
    for (const [, specifier] of source.matchAll(/\bfrom\s+'([^']+)'/g)) {
      assert.match(specifier!, /^\.\/[a-z-]+\.js$/, `${file} imports ${specifier}`);
    }
  }
});
