// Mail delivered through Dovecot's LMTP reaches the user's WebSocket as events, exactly once.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';
import { buildMessage } from '../helpers/message.js';
import { api, openReadyStream, registerWatched, StreamRecorder, type TestGateway } from '../helpers/gateway.js';

let dovecot: Dovecot;
let redis: RedisServer;
let gateway: TestGateway;
let base: string;

const fixtures = useFixtures();

before(async () => {
  [dovecot, redis] = await Promise.all([fixtures.dovecot(), fixtures.redis()]);
  // The eleven mailboxes of the tests, in one passwd-file write (a second each otherwise) while the gateway starts.
  [gateway] = await Promise.all([
    fixtures.gateway({ redisUrl: redis.url, imapPort: dovecot.imapPort, env: { WS_AUTH_TIMEOUT_SECONDS: '1' } }),
    dovecot.reserveUsers(11),
  ]);
  base = gateway.url!;
});

/** A registered mailbox whose worker is IDLE-ing, and an open stream for its user. */
async function watchedMailbox() {
  const { user: mailbox, token, accountId } = await registerWatched(base, dovecot);
  const stream = await openReadyStream(base, token);
  assert.deepEqual(stream.messages[0].accounts.map((a: { id: string }) => a.id), [accountId]);
  return { mailbox, token, accountId, stream };
}

async function imapSession(mailbox: { user: string; pass: string }): Promise<ImapFlow> {
  const client = new ImapFlow({ host: '127.0.0.1', port: dovecot.imapPort, secure: false, doSTARTTLS: false, auth: { user: mailbox.user, pass: mailbox.pass }, logger: false });
  client.on('error', () => undefined);
  await client.connect();
  await client.mailboxOpen('INBOX');
  return client;
}

describe('since', () => {
  test('a since past 2^64-1 on either side answers 400 invalid_request (it used to reach Redis and answer 500); 2^64-1 itself is an id', async () => {
    const { token, stream } = await watchedMailbox();
    stream.close();
    for (const since of ['99999999999999999999-0', '0-18446744073709551616', '18446744073709551616-0']) {
      const response = await api(base, 'GET', `/v1/events?since=${since}`, { token });
      assert.equal(response.status, 400, since);
      assert.equal(response.body.error.code, 'invalid_request', since);
    }
    const largest = await api(base, 'GET', '/v1/events?since=18446744073709551615-18446744073709551615', { token });
    assert.equal(largest.status, 200);
    assert.deepEqual(largest.body.events, []);
  });
});

describe('new mail', () => {
  test('an LMTP delivery becomes mail.new on the WebSocket with decoded headers', async () => {
    const { mailbox, accountId, stream } = await watchedMailbox();
    await dovecot.deliver(mailbox.email, buildMessage({
      from: { name: 'Zoë Ünïcode 🚀', address: 'zoe@example.test' },
      to: mailbox.email,
      subject: 'Grüße 🎉 こんにちは',
      messageId: '<first@example.test>',
      date: new Date('2026-11-28T10:00:00Z'),
      body: 'Bonjour à tous,\r\nthe first line of the text, then more.',
      bodyEncoding: 'base64',
    }));
    const event = await stream.waitFor((m) => m.type === 'mail.new', 10_000, 'mail.new');
    assert.match(event.id, /^\d+-\d+$/);
    assert.equal(event.accountId, accountId);
    assert.equal(event.mailbox, 'INBOX');
    assert.ok(!Number.isNaN(Date.parse(event.time)));
    assert.equal(event.data.subject, 'Grüße 🎉 こんにちは');
    assert.deepEqual(event.data.from, { name: 'Zoë Ünïcode 🚀', address: 'zoe@example.test' });
    assert.equal(event.data.messageId, '<first@example.test>');
    assert.equal(event.data.date, '2026-11-28T10:00:00.000Z');
    assert.equal(event.data.snippet, 'Bonjour à tous, the first line of the text, then more.');
    assert.equal(event.data.uid, 1);
    assert.match(event.data.uidValidity, /^\d+$/);
    assert.equal(event.data.unseen, 1);
    assert.equal(event.data.catchUp, false);

    // A legacy Japanese charset decodes too.
    await dovecot.deliver(mailbox.email, buildMessage({ from: { address: 'jp@example.test' }, to: mailbox.email, rawSubject: '=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=' }));
    const second = await stream.waitFor((m) => m.type === 'mail.new' && m.data.uid === 2, 10_000, 'second mail.new');
    assert.equal(second.data.subject, '日本語');
    assert.equal(second.data.unseen, 2);
    assert.equal(stream.events('mail.new').length, 2, 'each message exactly once');
    stream.close();
  });

  test('the preview of multipart mail comes from its text part, wherever that part sits', async () => {
    const { mailbox, stream } = await watchedMailbox();
    const head = (subject: string, type: string) =>
      `From: a@example.test\r\nTo: ${mailbox.email}\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\nContent-Type: ${type}\r\n\r\n`;
    // Text in part 1: it arrives with the envelope.
    await dovecot.deliver(mailbox.email, head('alternative', 'multipart/alternative; boundary="b1"')
      + '--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 at noon?\r\n'
      + '--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML twin</p>\r\n--b1--\r\n');
    // Text nested in part 1.1 beside an attachment: fetched on its own.
    await dovecot.deliver(mailbox.email, head('nested', 'multipart/mixed; boundary="m"')
      + '--m\r\nContent-Type: multipart/alternative; boundary="a"\r\n\r\n'
      + `--a\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from('Nested plain text').toString('base64')}\r\n`
      + '--a\r\nContent-Type: text/html\r\n\r\n<b>nested html</b>\r\n--a--\r\n'
      + '--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="x.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--m--\r\n');
    // An attachment in part 1 and only HTML after it: the preview is the HTML's text, not the attachment.
    await dovecot.deliver(mailbox.email, head('html only', 'multipart/mixed; boundary="h"')
      + '--h\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="notes.txt"\r\n\r\nattached notes, not the message\r\n'
      + '--h\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><style>p{}</style><p>Hello &amp; welcome</p></html>\r\n--h--\r\n');
    const snippetOf = async (subject: string) =>
      (await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === subject, 10_000, subject)).data.snippet;
    assert.equal(await snippetOf('alternative'), 'Café at noon?');
    assert.equal(await snippetOf('nested'), 'Nested plain text');
    assert.equal(await snippetOf('html only'), 'Hello & welcome');
    stream.close();
  });

  test('a 2 MB subject and a long sender name arrive capped with "…" at a character boundary, the event within 8 KiB', async () => {
    const { mailbox, token, stream } = await watchedMailbox();
    const frames: Buffer[] = [];
    stream.socket.on('message', (data: Buffer) => frames.push(Buffer.from(data)));
    const subject = `Grüße 🎉 ${'こんにちは 🚀 '.repeat(100_000)}`.trimEnd(); // about 2 MB of UTF-8
    assert.ok(Buffer.byteLength(subject) > 2_000_000);
    await dovecot.deliver(mailbox.email, buildMessage({
      from: { name: `Zoë ${'Ünïcode '.repeat(200)}`.trimEnd(), address: 'zoe@example.test' },
      to: mailbox.email,
      subject,
    }));
    const event = await stream.waitFor((m) => m.type === 'mail.new', 20_000, 'mail.new');
    assert.ok(event.data.subject.endsWith('…'));
    assert.ok(subject.startsWith(event.data.subject.slice(0, -1)), 'the subject\'s start, cut between characters');
    assert.ok(Buffer.byteLength(event.data.subject) <= 1024 && Buffer.byteLength(event.data.subject) > 1000);
    assert.ok(event.data.from.name.startsWith('Zoë Ünïcode') && event.data.from.name.endsWith('…'));
    assert.ok(Buffer.byteLength(event.data.from.name) <= 256);
    const frame = frames.find((f) => f.includes('"mail.new"'));
    assert.ok(frame && frame.length <= 8192, `the frame is ${frame?.length} bytes`);
    const stored = await api(base, 'GET', '/v1/events', { token });
    assert.equal(stored.body.events.find((e: { type: string }) => e.type === 'mail.new').data.subject, event.data.subject);
    stream.close();
  });

  test('the log replays after `since`, over REST and on a new WebSocket, without repeats', async () => {
    const { mailbox, token, stream } = await watchedMailbox();
    for (let i = 1; i <= 3; i++) {
      await dovecot.deliver(mailbox.email, buildMessage({ from: { address: 'a@example.test' }, to: mailbox.email, subject: `message ${i}` }));
      await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === `message ${i}`, 10_000, `message ${i}`);
    }
    const all = await api(base, 'GET', '/v1/events', { token });
    assert.equal(all.status, 200);
    const mails = all.body.events.filter((e: { type: string }) => e.type === 'mail.new');
    assert.deepEqual(mails.map((e: { data: { subject: string } }) => e.data.subject), ['message 1', 'message 2', 'message 3']);
    const firstId = mails[0].id;
    const after = await api(base, 'GET', `/v1/events?since=${firstId}&limit=1`, { token });
    assert.equal(after.body.events.length, 1);
    assert.notEqual(after.body.events[0].id, firstId);
    assert.equal((await api(base, 'GET', '/v1/events?since=banana', { token })).status, 400);
    assert.equal((await api(base, 'GET', '/v1/events?limit=0', { token })).status, 400);

    const resumed = StreamRecorder.open(base, { token, since: firstId });
    await resumed.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'message 3', 5000, 'replay');
    await dovecot.deliver(mailbox.email, buildMessage({ from: { address: 'a@example.test' }, to: mailbox.email, subject: 'message 4' }));
    await resumed.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'message 4', 10_000, 'live after replay');
    assert.deepEqual(resumed.events('mail.new').map((e) => e.data.subject), ['message 2', 'message 3', 'message 4']);
    const ids = resumed.messages.filter((m) => m.id).map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, 'no event twice');
    resumed.close();
    stream.close();
  });

  test('the unread count on new mail follows reads elsewhere and mail that arrives already read', async () => {
    const { mailbox, stream } = await watchedMailbox();
    const deliver = (subject: string) => dovecot.deliver(mailbox.email, buildMessage({ from: { address: 'a@example.test' }, to: mailbox.email, subject }));
    const newMail = (uid: number) => stream.waitFor((m) => m.type === 'mail.new' && m.data.uid === uid, 10_000, `mail.new ${uid}`);
    await deliver('one');
    assert.equal((await newMail(1)).data.unseen, 1);
    await deliver('two');
    assert.equal((await newMail(2)).data.unseen, 2);
    const phone = await imapSession(mailbox);
    try {
      await phone.messageFlagsAdd('1', ['\\Seen'], { uid: true });
      await stream.waitFor((m) => m.type === 'mail.flags' && m.data.uid === 1, 10_000, 'mail.flags');
      // Sent from the phone: stored already read, so the count stays.
      await phone.append('INBOX', buildMessage({ from: { address: mailbox.email }, to: 'b@example.test', subject: 'sent copy' }), ['\\Seen']);
      assert.equal((await newMail(3)).data.unseen, 1);
      await deliver('three');
      assert.equal((await newMail(4)).data.unseen, 2);
      await phone.noop(); // the phone's own session learns of UID 4 first, or its STORE skips it
      await phone.messageFlagsAdd('2,4', ['\\Seen'], { uid: true });
      await stream.waitFor((m) => m.type === 'mail.flags' && m.data.uid === 4, 10_000, 'mail.flags for 4');
      await deliver('four');
      const last = await newMail(5);
      assert.equal(last.data.unseen, 1);
      await phone.noop(); // STATUS on a selected mailbox answers for what that session has seen
      const status = await phone.status('INBOX', { unseen: true });
      assert.equal(last.data.unseen, status ? status.unseen : undefined, 'the same count the server gives');
    } finally {
      await phone.logout();
      stream.close();
    }
  });

  test('reading a message elsewhere sends mail.flags; deleting it sends mail.expunged', async () => {
    const { mailbox, stream } = await watchedMailbox();
    await dovecot.deliver(mailbox.email, buildMessage({ from: { address: 'a@example.test' }, to: mailbox.email, subject: 'read me' }));
    await dovecot.deliver(mailbox.email, buildMessage({ from: { address: 'a@example.test' }, to: mailbox.email, subject: 'keep me' }));
    await stream.waitFor((m) => m.type === 'mail.new' && m.data.uid === 2, 10_000, 'both mails');
    const phone = await imapSession(mailbox);
    try {
      await phone.messageFlagsAdd('1', ['\\Seen'], { uid: true });
      const flags = await stream.waitFor((m) => m.type === 'mail.flags', 10_000, 'mail.flags');
      assert.deepEqual(flags.data, { uid: 1, seen: true, flags: ['\\Seen'], unseen: 1 });
      await phone.messageDelete('1', { uid: true });
      const expunged = await stream.waitFor((m) => m.type === 'mail.expunged', 10_000, 'mail.expunged');
      assert.deepEqual(expunged.data, { uids: [1], unseen: 1 });
    } finally {
      await phone.logout();
      stream.close();
    }
  });

  test('a UIDVALIDITY change sends mailbox.reset and never replays old mail', async () => {
    const { mailbox, stream } = await watchedMailbox();
    await dovecot.deliver(mailbox.email, buildMessage({ from: { address: 'a@example.test' }, to: mailbox.email, subject: 'before reset' }));
    const before = await stream.waitFor((m) => m.type === 'mail.new', 10_000, 'first mail');
    const newValidity = Number(before.data.uidValidity) + 1000;
    await dovecot.setUidValidity(mailbox.user, 'INBOX', newValidity);
    // Servers renumber a mailbox when it is recreated or restored, and the sessions that had it
    // selected end; the worker sees the new UIDVALIDITY when it selects the mailbox again.
    await dovecot.stop();
    await dovecot.start();
    const reset = await stream.waitFor((m) => m.type === 'mailbox.reset', 15_000, 'mailbox.reset');
    assert.equal(reset.data.uidValidity, String(newValidity));
    await dovecot.deliver(mailbox.email, buildMessage({ from: { address: 'a@example.test' }, to: mailbox.email, subject: 'after reset' }));
    const after = await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === 'after reset', 10_000, 'mail after reset');
    assert.equal(after.data.uidValidity, String(newValidity));
    assert.deepEqual(stream.events('mail.new').map((e) => e.data.subject), ['before reset', 'after reset']);
    stream.close();
  });
});

describe('watched mailboxes', () => {
  test('PATCH mailboxes watches another folder (over the same connection: Dovecot has NOTIFY); a missing folder is an error state', async () => {
    const { mailbox, token, accountId, stream } = await watchedMailbox();
    const phone = await imapSession(mailbox);
    try {
      await phone.mailboxCreate('Work');
      const patched = await api(base, 'PATCH', `/v1/accounts/${accountId}`, { token, body: { mailboxes: ['INBOX', 'Work'] } });
      assert.equal(patched.status, 200);
      assert.deepEqual(patched.body.account.mailboxes, ['INBOX', 'Work']);
      assert.equal(patched.body.account.state, 'connecting');
      await stream.waitFor((m) => m.type === 'account.state' && m.data.state === 'idle', 10_000, 'idle on both');
      await phone.append('Work', buildMessage({ from: { address: 'boss@example.test' }, to: mailbox.email, subject: 'filed into Work' }));
      const work = await stream.waitFor((m) => m.type === 'mail.new' && m.mailbox === 'Work', 10_000, 'mail.new in Work');
      assert.equal(work.data.subject, 'filed into Work');
      await dovecot.deliver(mailbox.email, buildMessage({ from: { address: 'a@example.test' }, to: mailbox.email, subject: 'still INBOX' }));
      const inbox = await stream.waitFor((m) => m.type === 'mail.new' && m.mailbox === 'INBOX', 10_000, 'mail.new in INBOX');
      assert.equal(inbox.data.subject, 'still INBOX');

      await api(base, 'PATCH', `/v1/accounts/${accountId}`, { token, body: { mailboxes: ['INBOX', 'Nope'] } });
      const failed = await stream.waitFor((m) => m.type === 'account.state' && m.data.state === 'error', 10_000, 'error state');
      assert.match(failed.data.error, /Nope/);
    } finally {
      await phone.logout();
      stream.close();
    }
  });
});

describe('stream authentication', () => {
  test('a first message can authenticate, with since', async () => {
    const { token, stream } = await watchedMailbox();
    stream.close();
    const viaMessage = StreamRecorder.open(base);
    await new Promise((resolve) => viaMessage.socket.once('open', resolve));
    viaMessage.socket.send(JSON.stringify({ type: 'auth', token, since: '0-1' }));
    await viaMessage.waitFor((m) => m.type === 'ready', 5000, 'ready');
    await viaMessage.waitFor((m) => m.type === 'account.state', 5000, 'replayed account.state');
    viaMessage.close();
  });

  test('bad, missing or late credentials close the socket with 4401', async () => {
    const wrongHeader = StreamRecorder.open(base, { token: 'mpt_wrong' });
    assert.equal((await wrongHeader.waitForClose()).code, 4401);
    const wrongMessage = StreamRecorder.open(base);
    await new Promise((resolve) => wrongMessage.socket.once('open', resolve));
    wrongMessage.socket.send(JSON.stringify({ type: 'auth', token: 'mpt_wrong' }));
    assert.equal((await wrongMessage.waitForClose()).code, 4401);
    const garbage = StreamRecorder.open(base);
    await new Promise((resolve) => garbage.socket.once('open', resolve));
    garbage.socket.send('not json');
    assert.equal((await garbage.waitForClose()).code, 4400);
    const silent = StreamRecorder.open(base);
    const closed = await silent.waitForClose(5000);
    assert.equal(closed.code, 4401);
    assert.match(closed.reason, /timed out/);
    assert.equal(silent.messages.length, 0, 'nothing is sent before authentication');
  });

  test('a heartbeat outside 10-1740 s, or a since that is no event id, is refused with 4400 (the query schema answers no HTTP 400)', async () => {
    const { token, stream } = await watchedMailbox();
    stream.close();
    const tooShort = StreamRecorder.open(base, { token, query: '?heartbeat=5' });
    assert.equal((await tooShort.waitForClose()).code, 4400);
    const notANumber = StreamRecorder.open(base, { token, query: '?heartbeat=often' });
    assert.equal((await notANumber.waitForClose()).code, 4400);
    const badSince = StreamRecorder.open(base, { token, since: 'banana' });
    const closed = await badSince.waitForClose();
    assert.equal(closed.code, 4400);
    assert.match(closed.reason, /since is not an event id/);
    const beyond64Bits = StreamRecorder.open(base, { token, since: '99999999999999999999-0' });
    const closedBeyond = await beyond64Bits.waitForClose();
    assert.equal(closedBeyond.code, 4400);
    assert.match(closedBeyond.reason, /since is not an event id/);
    const fine = StreamRecorder.open(base, { token, query: '?heartbeat=60' });
    const ready = await fine.waitFor((m) => m.type === 'ready', 5000, 'ready');
    assert.equal(ready.heartbeat, 60);
    fine.close();
  });
});
