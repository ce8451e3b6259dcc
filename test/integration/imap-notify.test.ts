// One IMAP connection for an account that watches several folders, through NOTIFY (RFC 5465), on a
// real Dovecot: new mail, flag changes and expunges in folders that are not selected, the catch-up
// of every folder after a worker restart, and a server without NOTIFY (one connection per folder).

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Dovecot, DovecotUser } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { buildMessage } from '../helpers/message.js';
import type { RedisServer } from '../helpers/redis.js';
import { api, openReadyStream, type StreamRecorder, type TestGateway } from '../helpers/gateway.js';
import { startImapCommandGate, type ImapCommandGate } from '../helpers/imap-command-gate.js';
import { waitFor } from '../helpers/wait.js';

// Mail to user+Folder lands in Folder (Dovecot's detail delivery), like a sieve rule would file it.
const DETAIL_DELIVERY = 'lmtp_save_to_detail_mailbox = yes';
// Everything Dovecot 2.3 announces after login except NOTIFY.
const WITHOUT_NOTIFY = 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH WITHIN LIST-STATUS BINARY MOVE';
const FOLDERS = ['Work', 'Lists', 'Receipts', 'Later'];

let dovecot: Dovecot;
/** In front of `dovecot`: the NOTIFY gateway's connections go through it. */
let gate: ImapCommandGate;
let plainDovecot: Dovecot;
let redis: RedisServer;
let web: TestGateway;
let plainWeb: TestGateway;

const fixtures = useFixtures();
const startWorker = (imapPort: number) => fixtures.gateway({ role: 'worker', redisUrl: redis.url, imapPort });

before(async () => {
  [dovecot, plainDovecot, redis] = await Promise.all([
    fixtures.dovecot({ extraConfig: DETAIL_DELIVERY }),
    fixtures.dovecot({ extraConfig: DETAIL_DELIVERY, capabilities: WITHOUT_NOTIFY }),
    fixtures.redis(),
  ]);
  gate = await fixtures.start('IMAP command gate', startImapCommandGate(dovecot.imapPort), (g) => g.close());
  // Both web processes serve the same Redis; each registers mailboxes of its own Dovecot.
  [web, plainWeb] = await Promise.all([
    fixtures.gateway({ role: 'web', redisUrl: redis.url, imapPort: gate.port }),
    fixtures.gateway({ role: 'web', redisUrl: redis.url, imapPort: plainDovecot.imapPort }),
  ]);
});

const mail = (to: string, subject: string) => buildMessage({ from: { address: 'sender@example.test' }, to, subject });
const deliverTo = (server: Dovecot, user: DovecotUser, folder: string, subject: string) =>
  server.deliver(folder === 'INBOX' ? user.email : user.email.replace('@', `+${folder}@`), mail(user.email, subject));

/** IMAP sessions Dovecot has open for `user` (`doveadm who`: user, count, protocol, pids, addresses). */
async function imapSessions(server: Dovecot, user: DovecotUser): Promise<number> {
  const line = (await server.doveadm(['who', user.user])).split('\n').find((l) => l.startsWith(`${user.user} `) && /\bimap\b/.test(l));
  return line ? Number(line.trim().split(/\s+/)[1]) : 0;
}

/** A user with the folders, registered to watch INBOX and them, with its stream open. */
async function watching(server: Dovecot, base: string, mailboxes: string[], state: string) {
  const user = await server.addUser();
  await server.doveadm(['mailbox', 'create', '-u', user.user, ...FOLDERS, 'Spare']);
  const created = await api(base, 'POST', '/v1/accounts', { body: { imap: { user: user.user, pass: user.pass }, mailboxes } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const token = created.body.token as string;
  const account = async () => (await api(base, 'GET', `/v1/accounts/${created.body.account.id}`, { token })).body.account;
  await waitFor(async () => (await account()).state === state, { timeoutMs: 10_000, what: `the account to be ${state}` });
  const folders = () => api(base, 'GET', `/v1/accounts/${created.body.account.id}/folders`, { token });
  return { user, token, account, folders, stream: await openReadyStream(base, token) };
}

const newMail = (stream: StreamRecorder, subject: string) =>
  stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === subject, 10_000, `mail.new "${subject}"`);

test('NOTIFY: INBOX and four folders on one connection; new mail, flags and expunges in each, and a catch-up of every folder after a restart', async () => {
  let worker = await startWorker(gate.port);
  const { user, token, stream, folders } = await watching(dovecot, web.url!, ['INBOX', ...FOLDERS], 'idle');
  // The folders to choose from, asked of the server; with NOTIFY up to 20 may be watched.
  const listed = await folders();
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.body.folders.map((f: { name: string }) => f.name).sort(), ['INBOX', 'Later', 'Lists', 'Receipts', 'Spare', 'Work']);
  assert.deepEqual([listed.body.maxMailboxes, listed.body.truncated], [20, false]);
  const unknown = await api(web.url!, 'GET', '/v1/accounts/nope/folders', { token });
  assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'not_found']);

  for (const folder of ['INBOX', ...FOLDERS]) {
    await deliverTo(dovecot, user, folder, `to ${folder}`);
    const event = await newMail(stream, `to ${folder}`);
    assert.equal(event.mailbox, folder);
    assert.deepEqual([event.data.uid, event.data.catchUp], [1, false]);
  }
  assert.equal(await imapSessions(dovecot, user), 1, 'one IMAP connection for five mailboxes');
  // Each mailbox is opened by its SELECT or EXAMINE alone: the LIST and LSUB imapflow would send
  // before each (two round trips per login, both sides) are not (lean-imapflow.ts, openMailbox).
  const sent = gate.sent();
  const notifying = sent.find((l) => /^\S+ NOTIFY SET\b/i.test(l.line))?.connection;
  const commands = sent.filter((l) => l.connection === notifying).map((l) => l.line.split(' ')[1]?.toUpperCase());
  // Its login is two round trips shorter than imapflow's own (lean-imapflow.ts): the password
  // rides on AUTHENTICATE PLAIN (SASL-IR), with no "+" to wait for, and ID goes once, after it.
  assert.deepEqual(commands.slice(0, 4), ['AUTHENTICATE', 'ID', 'NAMESPACE', 'ENABLE'], commands.join(' '));
  assert.match(sent.find((l) => l.connection === notifying)!.line, /^\S+ AUTHENTICATE PLAIN [A-Za-z0-9+/]+=*$/);
  assert.deepEqual(['SELECT', 'EXAMINE'].map((c) => commands.includes(c)), [true, true], commands.join(' '));
  assert.ok(!commands.includes('LSUB'), commands.join(' '));
  commands.forEach((command, i) => {
    if (command === 'SELECT' || command === 'EXAMINE') assert.notEqual(commands[i - 1], 'LIST', commands.join(' '));
  });

  // A flag set and a message expunged in folders that are not selected (INBOX is), as another mail client would.
  // Back in INBOX after the visit to Lists, the worker's first command there is a UID FETCH for new
  // mail. The INBOX change below is made while the gate holds that command, so Dovecot sends it at
  // the end of the FETCH: imapflow took it for part of the answer, and the change was lost (under
  // load the timing fell there by itself) until new-mail-fetch.ts gave such responses back.
  const backInInbox = gate.hold([/^\S+ EXAMINE Lists\b/, /^\S+ SELECT INBOX\b/, /^\S+ UID FETCH\b/]);
  await dovecot.doveadm(['flags', 'add', '-u', user.user, '\\Seen', 'mailbox', 'Lists', 'uid', '1']);
  const flags = await stream.waitFor((m) => m.type === 'mail.flags' && m.mailbox === 'Lists', 10_000, 'mail.flags in Lists');
  assert.deepEqual(flags.data, { uid: 1, seen: true, flags: ['\\Seen'], unseen: 0 });
  // In INBOX, the selected one, as before NOTIFY.
  const release = await backInInbox;
  await dovecot.doveadm(['flags', 'add', '-u', user.user, '\\Flagged', 'mailbox', 'INBOX', 'uid', '1']);
  release();
  const inboxFlags = await stream.waitFor((m) => m.type === 'mail.flags' && m.mailbox === 'INBOX', 10_000, 'mail.flags in INBOX');
  assert.deepEqual(inboxFlags.data, { uid: 1, seen: false, flags: ['\\Flagged'], unseen: 1 });
  await dovecot.doveadm(['expunge', '-u', user.user, 'mailbox', 'Receipts', 'uid', '1']);
  const expunged = await stream.waitFor((m) => m.type === 'mail.expunged' && m.mailbox === 'Receipts', 10_000, 'mail.expunged in Receipts');
  assert.deepEqual(expunged.data, { uids: [1], unseen: 0 });

  // Mail for every folder while no worker runs: the next one catches up on all of them, once each.
  await worker.stop();
  for (const folder of ['INBOX', ...FOLDERS]) await deliverTo(dovecot, user, folder, `away in ${folder}`);
  worker = await startWorker(gate.port);
  for (const folder of ['INBOX', ...FOLDERS]) {
    const event = await stream.waitFor((m) => m.type === 'mail.new' && m.data.subject === `away in ${folder}`, 15_000, `catch-up of ${folder}`);
    assert.deepEqual([event.mailbox, event.data.uid, event.data.catchUp], [folder, 2, true]);
  }
  // Live again, in a folder, after the catch-up; then nothing was notified twice.
  await deliverTo(dovecot, user, 'Later', 'sentinel');
  await newMail(stream, 'sentinel');
  const subjects = stream.events('mail.new').map((e) => e.data.subject as string);
  assert.equal(new Set(subjects).size, subjects.length, `no mail notified twice: ${subjects.join(', ')}`);
  assert.equal(subjects.length, 11);
  // Going back to INBOX after each visit (QRESYNC from where it left) repeated no flag change.
  assert.deepEqual(stream.events('mail.flags').map((e) => [e.mailbox, e.data.uid]), [['Lists', 1], ['INBOX', 1]]);
  assert.equal(await imapSessions(dovecot, user), 1, 'still one IMAP connection after the restart');
  stream.close();
  await worker.stop();
});

test('without NOTIFY each folder has its own connection, at most 5 mailboxes, and the account says why the rest is not watched', async () => {
  const worker = await startWorker(plainDovecot.imapPort);
  const { user, stream, account, folders } = await watching(plainDovecot, plainWeb.url!, ['INBOX', ...FOLDERS, 'Spare'], 'error');
  assert.equal((await folders()).body.maxMailboxes, 5);
  assert.match((await account()).lastError, /NOTIFY.*at most 5 mailboxes/);
  await waitFor(async () => (await imapSessions(plainDovecot, user)) === 5, { timeoutMs: 10_000, what: 'five IMAP connections' });

  await deliverTo(plainDovecot, user, 'Work', 'own connection');
  assert.equal((await newMail(stream, 'own connection')).mailbox, 'Work');
  await deliverTo(plainDovecot, user, 'INBOX', 'inbox too');
  assert.equal((await newMail(stream, 'inbox too')).mailbox, 'INBOX');
  stream.close();
  await worker.stop();
});
