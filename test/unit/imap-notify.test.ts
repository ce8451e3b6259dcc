// The NOTIFY module (src/imap/notify.ts): the NOTIFY SET line as imapflow's own compiler puts it on
// the wire, and the untagged STATUS lines Dovecot sends under NOTIFY as imapflow's parser reads them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compiler, parser } from 'imapflow/lib/handler/imap-handler.js';
import { parseListLine } from '../../src/imap/folders.js';
import { encodeMailboxName, notifySetArguments, parseStatus, statusShowsChange, type UntaggedResponse } from '../../src/imap/notify.js';

async function wire(others: string[]): Promise<string> {
  return String(await compiler({ tag: 'A1', command: 'NOTIFY', attributes: notifySetArguments(others) } as never));
}

const status = async (line: string) => parseStatus((await parser(Buffer.from(line))) as UntaggedResponse);

test('NOTIFY SET asks for new mail, expunges and flag changes in the selected mailbox and in each other one (RFC 5465 grammar)', async () => {
  assert.equal(
    await wire(['Work', 'Lists']),
    'A1 NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) (mailboxes (Work Lists) (MessageNew MessageExpunge FlagChange))',
  );
  // Names that cannot be atoms are quoted; non-ASCII names go in modified UTF-7 (RFC 3501 §5.1.3).
  assert.equal(
    await wire(['Old mail', '日本語', 'a&b']),
    'A1 NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) (mailboxes ("Old mail" &ZeVnLIqe- a&-b) (MessageNew MessageExpunge FlagChange))',
  );
  // Only the selected mailbox: no empty mailbox list, which the grammar does not allow.
  assert.equal(await wire([]), 'A1 NOTIFY SET (selected (MessageNew MessageExpunge FlagChange))');
});

test('an untagged STATUS as Dovecot sends it under NOTIFY: new mail, a flag change, an expunge', async () => {
  assert.deepEqual(await status('* STATUS Work (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 1796245221 UNSEEN 1 HIGHESTMODSEQ 2)'), {
    mailbox: 'Work', messages: 1, uidNext: 2, uidValidity: '1796245221', unseen: 1, highestModseq: 2n,
  });
  assert.deepEqual(await status('* STATUS Work (UNSEEN 0 HIGHESTMODSEQ 3)'), { mailbox: 'Work', unseen: 0, highestModseq: 3n });
  assert.deepEqual(await status('* STATUS "&ZeVnLIqe-" (MESSAGES 0 UIDNEXT 2 UNSEEN 0 HIGHESTMODSEQ 4)'), {
    mailbox: '日本語', messages: 0, uidNext: 2, unseen: 0, highestModseq: 4n,
  });
});

test('a STATUS the server bent: unusable values are dropped, the rest is kept; no name or no list is no STATUS', async () => {
  assert.deepEqual(await status('* STATUS Work (UIDNEXT 99999999999 MESSAGES -1 UNSEEN 1e5 HIGHESTMODSEQ 123456789012345678901 UIDVALIDITY 7 X 1)'), {
    mailbox: 'Work', uidValidity: '7',
  });
  assert.equal(parseStatus({ command: 'STATUS', attributes: [] }), undefined);
  assert.equal(parseStatus({ command: 'STATUS', attributes: [{ type: 'ATOM', value: 'Work' }] }), undefined);
  assert.deepEqual(parseStatus({ command: 'STATUS', attributes: [{ type: 'ATOM', value: 'Work' }, [{ type: 'ATOM', value: 'UIDNEXT' }]] }), { mailbox: 'Work' });
});

test('a folder is looked at again only when its STATUS shows something the last look did not see', () => {
  const seen = { uidValidity: '7', lastUid: 4, highestModseq: 10n };
  assert.equal(statusShowsChange({ mailbox: 'Work', uidNext: 5, highestModseq: 10n }, seen), false, 'nothing new');
  assert.equal(statusShowsChange({ mailbox: 'Work', messages: 4, uidNext: 5, unseen: 0, highestModseq: 10n }, seen), false, 'a STATUS sent before the last look');
  assert.equal(statusShowsChange({ mailbox: 'Work', uidNext: 6, highestModseq: 11n }, seen), true, 'new mail');
  assert.equal(statusShowsChange({ mailbox: 'Work', unseen: 0, highestModseq: 11n }, seen), true, 'a flag change');
  assert.equal(statusShowsChange({ mailbox: 'Work', uidValidity: '8', uidNext: 1 }, seen), true, 'renumbered');
  assert.equal(statusShowsChange({ mailbox: 'Work', uidNext: 5 }, undefined), true, 'never looked');
  // A server without mod-sequences: a flag change shows only in UNSEEN, so look.
  assert.equal(statusShowsChange({ mailbox: 'Work', unseen: 0 }, { uidValidity: '7', lastUid: 4 }), true);
  assert.equal(statusShowsChange({ mailbox: 'Work', uidNext: 5 }, { uidValidity: '7', lastUid: 4 }), false);
});

test('mailbox names on the wire: ASCII as is, the rest in modified UTF-7', () => {
  assert.equal(encodeMailboxName('INBOX'), 'INBOX');
  assert.equal(encodeMailboxName('Entwürfe'), 'Entw&APw-rfe');
  assert.equal(encodeMailboxName('a&b'), 'a&-b');
});

test('a LIST line as the folder chooser reads it: the decoded name and special use; folders that cannot be opened are left out', async () => {
  const line = async (text: string) => parseListLine((await parser(Buffer.from(text))) as UntaggedResponse);
  assert.deepEqual(await line('* LIST (\\HasNoChildren \\Sent) "/" Sent'), { name: 'Sent', specialUse: '\\Sent' });
  assert.deepEqual(await line('* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"'), { name: 'Entwürfe' });
  assert.deepEqual(await line('* LIST () "/" inbox'), { name: 'INBOX' });
  assert.equal(await line('* LIST (\\Noselect \\HasChildren) "/" Archive'), undefined);
  assert.equal(await line('* LIST (\\NonExistent) "/" Gone'), undefined);
});
