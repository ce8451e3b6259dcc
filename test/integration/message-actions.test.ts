// Acting on a message from its notification, and reading it: real `mailpush` web and worker
// processes on Redis (so the command travels web → worker → web over pub/sub), a real Dovecot fed
// through LMTP with a \Trash special-use folder, a second IMAP session that checks what the server
// holds, the loopback push service, and headless Chromium as two devices of one person.
//
// A notification's button is clicked the way Chromium headless allows: a NotificationEvent with
// the `action` dispatched inside the service worker (Playwright's Worker.evaluate) on a
// notification the worker itself shows (registration.getNotifications()). Chromium has no
// DevTools command that clicks a notification, and headless shows no notification UI to click.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { ImapFlow } from 'imapflow';
import type { Browser, BrowserContext, Page, Worker } from 'playwright-core';
import { LOW_CONTRAST, replacePushSubscription, ServiceWorkerPush, shownNotifications } from '../helpers/browser.js';
import type { Dovecot, DovecotUser } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { api, registerWatched } from '../helpers/gateway.js';
import { buildMessage } from '../helpers/message.js';
import type { PushService } from '../helpers/push-service.js';
import { waitFor } from '../helpers/wait.js';
import { MESSAGE_TEXT_MAX_CHARS } from '../../src/protocol/messages.js';

/** Dovecot's INBOX namespace with a Trash folder marked \Trash (RFC 6154), as most servers have. */
const TRASH_FOLDER = `namespace inbox {
  inbox = yes
  mailbox Trash {
    special_use = \\Trash
    auto = create
  }
}`;

let dovecot: Dovecot;
let push: PushService;
let base: string;
let browser: Browser;
let mailbox: DovecotUser;
let accountId: string;
/** The person's two devices: a phone (in the browser) and a laptop (in the browser). */
let phoneToken: string;
let laptopToken: string;
/** Serves the remote image an HTML mail points at, counting every request that reaches it. */
let imageServer: Server;
const imageRequests: string[] = [];

const fixtures = useFixtures();

before(async () => {
  let redis;
  [dovecot, redis, push] = await Promise.all([fixtures.dovecot({ extraConfig: TRASH_FOLDER }), fixtures.redis(), fixtures.pushService()]);
  const env = gatewayEnv({ redisUrl: redis.url, imapPort: dovecot.imapPort, push });
  let web;
  [, web, browser] = await Promise.all([fixtures.mailpush('worker', env), fixtures.mailpush('web', env), fixtures.chromium()]);
  base = web.url!;
  const registered = await registerWatched(base, dovecot);
  ({ user: mailbox, token: phoneToken, accountId } = registered);
  const laptop = await api(base, 'POST', '/v1/sessions', { body: { imap: { user: mailbox.user, pass: mailbox.pass }, deviceName: 'Laptop' } });
  assert.equal(laptop.status, 201);
  laptopToken = laptop.body.token;
  imageServer = createServer((request, response) => {
    imageRequests.push(request.url ?? '');
    response.writeHead(200, { 'content-type': 'image/png' }).end();
  });
  await new Promise<void>((resolve) => imageServer.listen(0, '127.0.0.1', resolve));
});

after(() => new Promise<void>((resolve) => (imageServer ? imageServer.close(() => resolve()) : resolve())));

/** A second IMAP session, as another mail app would have: what the server holds, not what we say. */
async function withImap<T>(use: (client: ImapFlow) => Promise<T>): Promise<T> {
  const client = new ImapFlow({ host: '127.0.0.1', port: dovecot.imapPort, secure: false, doSTARTTLS: false, auth: { user: mailbox.user, pass: mailbox.pass }, logger: false });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.logout().catch(() => client.close());
  }
}

const flagsOf = (uid: number) => withImap(async (client) => {
  await client.mailboxOpen('INBOX');
  const message = await client.fetchOne(String(uid), { flags: true }, { uid: true });
  return message ? [...(message.flags ?? [])] : undefined;
});

const subjectsIn = (folder: string) => withImap(async (client) => {
  await client.mailboxOpen(folder);
  const subjects: string[] = [];
  for await (const message of client.fetch('1:*', { envelope: true })) subjects.push(message.envelope?.subject ?? '');
  return subjects;
});

interface Delivered { uid: number; uidValidity: number }

/** Delivers a message through LMTP and waits for its mail.new in the event log. */
async function deliverAndWait(subject: string, raw?: string): Promise<Delivered> {
  await dovecot.deliver(mailbox.email, raw ?? buildMessage({ from: { name: 'Ada Lovelace', address: 'ada@example.test' }, to: mailbox.email, subject }));
  return waitFor(async () => {
    const events = (await api(base, 'GET', '/v1/events?limit=500', { token: phoneToken })).body.events as Array<{ type: string; data: { subject?: string; uid: number; uidValidity: string } }>;
    const found = events.find((event) => event.type === 'mail.new' && event.data.subject === subject);
    return found && { uid: found.data.uid, uidValidity: Number(found.data.uidValidity) };
  }, { timeoutMs: 10_000, what: `mail.new for "${subject}"` });
}

/** Waits for an event of `type` about `uid` (mail.flags seen, mail.expunged). */
async function waitForEvent(type: 'mail.flags' | 'mail.expunged', uid: number): Promise<void> {
  await waitFor(async () => {
    const events = (await api(base, 'GET', '/v1/events?limit=500', { token: phoneToken })).body.events as Array<{ type: string; data: { uid?: number; uids?: number[]; seen?: boolean } }>;
    return events.some((event) => event.type === type && (type === 'mail.flags' ? event.data.uid === uid && event.data.seen : event.data.uids?.includes(uid)));
  }, { timeoutMs: 10_000, what: `${type} for uid ${uid}` });
}

/** A raw single-part message with the given Content-Type and body. */
function rawMessage(subject: string, contentType: string, body: string): string {
  return [
    'From: Ada Lovelace <ada@example.test>', `To: ${mailbox.email}`, 'Cc: Grace Hopper <grace@example.test>', `Subject: ${subject}`,
    'Date: Tue, 01 Dec 2026 09:30:00 +0000', `Message-ID: <${subject.replace(/\W/g, '')}@example.test>`, 'MIME-Version: 1.0',
    `Content-Type: ${contentType}`, 'Content-Transfer-Encoding: 8bit', '', body,
  ].join('\r\n');
}

const read = (delivered: Delivered, token = phoneToken) =>
  api(base, 'GET', `/v1/accounts/${accountId}/messages/${delivered.uid}?uidValidity=${delivered.uidValidity}`, { token });

const act = (uid: number, body: unknown, token = phoneToken, account = accountId) =>
  api(base, 'POST', `/v1/accounts/${account}/messages/${uid}/actions`, { token, body });

describe('actions on a message', () => {
  test('API: "seen" sets \\Seen at the server, "delete" moves to Trash; a stale uidValidity, an unknown uid or another user\'s account change nothing', async () => {
    const lunch = await deliverAndWait('Lunch on Friday?');
    const stale = await act(lunch.uid, { action: 'seen', uidValidity: lunch.uidValidity + 1 });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.error.code, 'mailbox_changed');
    assert.ok(!(await flagsOf(lunch.uid))!.includes('\\Seen'), 'a stale uidValidity changed nothing');

    const seen = await act(lunch.uid, { action: 'seen', uidValidity: lunch.uidValidity });
    assert.deepEqual([seen.status, seen.body], [200, { action: 'seen', uid: lunch.uid, outcome: 'seen' }]);
    assert.ok((await flagsOf(lunch.uid))!.includes('\\Seen'), 'the server holds \\Seen');
    // The watcher saw it like any client's change: the event that dismisses notifications elsewhere.
    await waitForEvent('mail.flags', lunch.uid);

    const deleted = await act(lunch.uid, { action: 'delete', uidValidity: lunch.uidValidity });
    assert.deepEqual([deleted.status, deleted.body], [200, { action: 'delete', uid: lunch.uid, outcome: 'trash' }]);
    assert.ok(!(await subjectsIn('INBOX')).includes('Lunch on Friday?'), 'gone from INBOX');
    assert.ok((await subjectsIn('Trash')).includes('Lunch on Friday?'), 'in Trash');
    await waitForEvent('mail.expunged', lunch.uid);

    const gone = await act(lunch.uid, { action: 'seen', uidValidity: lunch.uidValidity });
    assert.deepEqual([gone.status, gone.body.error.code], [404, 'not_found']);
    const unknownMailbox = await act(1, { action: 'seen', uidValidity: lunch.uidValidity, mailbox: 'Archive' });
    assert.deepEqual([unknownMailbox.status, unknownMailbox.body.error.code], [404, 'not_found'], 'a mailbox the account does not watch');

    const stranger = await dovecot.addUser();
    const strangerSession = await api(base, 'POST', '/v1/sessions', { body: { imap: { user: stranger.user, pass: stranger.pass } } });
    const notTheirs = await act(lunch.uid, { action: 'delete', uidValidity: lunch.uidValidity }, strangerSession.body.token);
    assert.deepEqual([notTheirs.status, notTheirs.body.error.code], [404, 'not_found']);
    assert.equal((await act(lunch.uid, { action: 'seen', uidValidity: lunch.uidValidity }, '')).status, 401);
    const bad = await act(lunch.uid, { action: 'archive', uidValidity: lunch.uidValidity });
    assert.deepEqual([bad.status, bad.body.error.code], [400, 'invalid_request']);
  });

  test('service worker: a new-mail notification has "Mark as read" and "Delete"; the button marks the mail read at the server without opening a window, the laptop\'s notification closes, and a tap opens the message', async () => {
    const [phone, laptop] = await Promise.all([openDevice('phone', phoneToken), openDevice('laptop', laptopToken)]);
    try {
      await dovecot.deliver(mailbox.email, buildMessage({ from: { name: 'Grace Hopper', address: 'grace@example.test' }, to: mailbox.email, subject: 'Compiler ready' }));
      const pushes = await waitFor(() => {
        const found = ['phone', 'laptop'].map((name) => push.received.find((r) => r.name === name && r.payload.type === 'mail.new'));
        return found.every(Boolean) && found.map((r) => r!.payload);
      }, { timeoutMs: 10_000, what: 'the new-mail push to both devices' });
      const tag = String(pushes[0]!.tag);
      const uid = pushes[0]!.uid as number;
      assert.equal(pushes[0]!.uidValidity, pushes[1]!.uidValidity);
      for (const device of [phone, laptop]) {
        const payload = device === phone ? pushes[0] : pushes[1];
        await device.worker.deliverUntil(payload, async () => (await shownNotifications(device.page)).some((n) => n.tag === tag), 'the notification');
      }
      const shown = await notificationDetails(phone.sw, tag);
      assert.deepEqual(shown.actions, [{ action: 'seen', title: 'Mark as read' }, { action: 'delete', title: 'Delete' }]);
      assert.equal(shown.url, `/#/message/${accountId}/${uid}?mailbox=INBOX&uidValidity=${pushes[0]!.uidValidity}`, 'a tap opens the message');

      const pagesBefore = phone.context.pages().length;
      await clickNotification(phone.sw, tag, 'seen');
      await waitFor(async () => (await flagsOf(uid))?.includes('\\Seen'), { timeoutMs: 10_000, what: 'the server to hold \\Seen' });
      assert.equal(phone.context.pages().length, pagesBefore, 'no window was opened');
      assert.ok(!(await shownNotifications(phone.page)).some((n) => n.tag === tag), 'the clicked notification closed');

      const dismiss = await waitFor(() => push.received.find((r) => r.name === 'laptop' && r.payload.type === 'dismiss' && (r.payload.tags as string[]).includes(tag)), { timeoutMs: 10_000, what: 'the dismiss for the laptop' });
      await laptop.worker.deliverUntil(dismiss.payload, async () => !(await shownNotifications(laptop.page)).some((n) => n.tag === tag), 'the laptop\'s notification to close');

      // A tap (no button) on the laptop's notification opens the message in the app already open there.
      await laptop.worker.deliverUntil(pushes[1], async () => (await shownNotifications(laptop.page)).some((n) => n.tag === tag), 'the notification again');
      await clickNotification(laptop.sw, tag, '');
      await laptop.page.locator('#message-subject', { hasText: 'Compiler ready' }).waitFor();
      assert.match(await laptop.page.locator('#message-headers').innerText(), /Grace Hopper <grace@example\.test>/);
    } finally {
      await Promise.all([phone, laptop].map((device) => device.close()));
    }
  });

  test('service worker: the quiet notification stands for the night\'s mails; one read elsewhere leaves it showing the next, its "Mark as read" acts on the one shown, and it closes when none is left unread', async () => {
    const quietHours = (pausedUntil: string | null) => api(base, 'PUT', '/v1/devices/current/quiet-hours', { token: phoneToken, body: { enabled: false, start: '22:00', end: '07:00', timeZone: 'UTC', vips: [], pausedUntil } });
    assert.equal((await quietHours(new Date(Date.now() + 3600_000).toISOString())).status, 200);
    const phone = await openDevice('night-phone', phoneToken, 'full');
    try {
      const quietTag = `${accountId}:quiet`;
      const quietShown = async () => (await shownNotifications(phone.page)).filter((n) => n.tag === quietTag);
      const night: Array<{ uid: number; uidValidity: number; tag: string }> = [];
      for (const subject of ['Breakfast menu', 'Train times', 'Weather alert']) {
        const count = push.received.filter((r) => r.name === 'night-phone' && r.payload.type === 'mail.new').length;
        await dovecot.deliver(mailbox.email, buildMessage({ from: { name: 'Ada Lovelace', address: 'ada@example.test' }, to: mailbox.email, subject }));
        const quiet = await waitFor(() => push.received.filter((r) => r.name === 'night-phone' && r.payload.type === 'mail.new')[count], { timeoutMs: 10_000, what: `the quiet push of "${subject}"` });
        assert.deepEqual([quiet.payload.silent, quiet.payload.tag], [true, quietTag]);
        await phone.worker.deliverUntil(quiet.payload, async () => (await quietShown()).some((n) => n.body.includes(subject)), `the quiet notification showing "${subject}"`);
        night.push({ uid: quiet.payload.uid as number, uidValidity: quiet.payload.uidValidity as number, tag: `${accountId}:INBOX:${quiet.payload.uid}` });
      }
      assert.equal((await quietShown()).length, 1, 'one notification for the night');
      const [breakfast, train, weather] = night as [typeof night[0], typeof night[0], typeof night[0]];

      /** Reads `mail` on the laptop and gives the phone the dismiss that follows. */
      const readOnLaptop = async (mail: typeof breakfast, done: () => Promise<boolean>, what: string) => {
        assert.equal((await act(mail.uid, { action: 'seen', uidValidity: mail.uidValidity }, laptopToken)).status, 200);
        const dismiss = await waitFor(() => push.received.find((r) => r.name === 'night-phone' && r.payload.type === 'dismiss' && (r.payload.tags as string[]).includes(mail.tag)), { timeoutMs: 10_000, what: `the dismiss of uid ${mail.uid}` });
        await phone.worker.deliverUntil(dismiss.payload, done, what);
      };
      await readOnLaptop(weather, async () => (await quietShown()).some((n) => n.body.includes('Train times')), 'the quiet notification to show the next unread mail');

      // Its button acts on the mail it shows, then it shows the one before.
      await clickNotification(phone.sw, quietTag, 'seen');
      await waitFor(async () => (await flagsOf(train.uid))?.includes('\\Seen'), { timeoutMs: 10_000, what: 'the server to hold \\Seen' });
      await waitFor(async () => (await quietShown()).some((n) => n.body.includes('Breakfast menu')), { timeoutMs: 10_000, what: 'the quiet notification to show the last unread mail' });

      await readOnLaptop(breakfast, async () => (await quietShown()).length === 0, 'the quiet notification to close');
    } finally {
      await quietHours(null);
      await phone.close();
    }
  });
});

describe('reading a message', () => {
  test('plain, HTML (its script and remote image never run or load) and 10 MB (capped) messages read on demand, never stored in the event log; the app shows one', async () => {
    // Past the 200 characters of a mail.new's snippet: a phrase only the message view may show.
    const filler = 'The agenda is long. '.repeat(12);
    const plain = await deliverAndWait('Plan for Monday', rawMessage('Plan for Monday', 'text/plain; charset=utf-8', `Dear Ada,\r\n\r\n${filler}\r\nSigned, the planning committee.\r\n`));
    const html = await deliverAndWait('Quarterly report', rawMessage('Quarterly report', 'text/html; charset=utf-8', `<html><head><style>p { color: red }</style>
<script>document.title = 'pwned'; fetch('http://127.0.0.1:${(imageServer.address() as { port: number }).port}/script');</script></head>
<body><p>Quarterly numbers are <b>up</b>.</p><img src="http://127.0.0.1:${(imageServer.address() as { port: number }).port}/pixel.png" alt="tracker"></body></html>`));
    const line = `${'0123456789'.repeat(7)}\r\n`;
    const huge = await deliverAndWait('Full log dump', rawMessage('Full log dump', 'text/plain; charset=us-ascii', `BEGIN\r\n${line.repeat(Math.ceil((10 * 1024 * 1024) / line.length))}`));
    // 3 MiB of attachment before the end, a short text first: more than one read, all of its text shown.
    const scan = randomBytes(3 * 1024 * 1024).toString('base64').replace(/.{76}/g, '$&\r\n');
    const withAttachment = await deliverAndWait('Scan attached', rawMessage('Scan attached', 'multipart/mixed; boundary="b1"', [
      '--b1', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', 'Here is the scan you asked for =E2=80=94 Ada.', '',
      '--b1', 'Content-Type: application/pdf; name="scan.pdf"', 'Content-Disposition: attachment; filename="scan.pdf"', 'Content-Transfer-Encoding: base64', '', scan,
      '--b1--', '',
    ].join('\r\n')));

    const patch = (webmailUrl: unknown) => api(base, 'PATCH', `/v1/accounts/${accountId}`, { token: phoneToken, body: { webmailUrl } });
    for (const refused of ['http://webmail.example.test/{uid}', 'javascript:alert(1)', 'https://webmail.example.test/{user}/{uid}', '/relative/{uid}']) {
      const answer = await patch(refused);
      assert.deepEqual([answer.status, answer.body.error.code], [400, 'invalid_request'], refused);
    }
    assert.equal((await patch('https://webmail.example.test/?_mbox={mailbox}&_uid={uid}')).body.account.webmailUrl, 'https://webmail.example.test/?_mbox={mailbox}&_uid={uid}');

    const shown = await read(plain);
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body, {
      accountId, mailbox: 'INBOX', uid: plain.uid, uidValidity: plain.uidValidity,
      from: [{ name: 'Ada Lovelace', address: 'ada@example.test' }], to: [{ name: '', address: mailbox.email }],
      cc: [{ name: 'Grace Hopper', address: 'grace@example.test' }], subject: 'Plan for Monday', date: '2026-12-01T09:30:00.000Z',
      text: `Dear Ada,\n\n${filler}\nSigned, the planning committee.\n`, truncated: false,
      webmailUrl: `https://webmail.example.test/?_mbox=INBOX&_uid=${plain.uid}`,
    });
    assert.ok(!(await flagsOf(plain.uid))!.includes('\\Seen'), 'reading is a peek: the message stays unread until "Mark as read"');
    const asText = (await read(html)).body;
    assert.match(asText.text, /Quarterly numbers are up\./);
    assert.doesNotMatch(asText.text, /pwned|fetch|pixel|color: red/, 'no script, style or image survives into the text');
    const capped = (await read(huge)).body;
    assert.equal(capped.truncated, true);
    assert.equal(capped.text.length, MESSAGE_TEXT_MAX_CHARS);
    assert.ok(capped.text.startsWith('BEGIN\n0123456789'));
    const attached = (await read(withAttachment)).body;
    assert.deepEqual([attached.subject, attached.from[0].address, attached.text.trim(), attached.truncated],
      ['Scan attached', 'ada@example.test', 'Here is the scan you asked for — Ada.', false], 'the whole text is shown, so not truncated');

    const stale = await api(base, 'GET', `/v1/accounts/${accountId}/messages/${plain.uid}?uidValidity=${plain.uidValidity + 1}`, { token: phoneToken });
    assert.deepEqual([stale.status, stale.body.error.code], [409, 'mailbox_changed']);
    const missing = await read({ uid: huge.uid + 100, uidValidity: huge.uidValidity });
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'not_found']);
    const log = JSON.stringify((await api(base, 'GET', '/v1/events?limit=500', { token: phoneToken })).body);
    assert.ok(log.includes('Plan for Monday') && !log.includes('planning committee'), 'what was read never enters the event log');

    // The app's message view, as a tapped notification opens it.
    const context = await browser.newContext({ viewport: { width: 360, height: 780 } });
    try {
      await context.addInitScript({ content: `localStorage.setItem('mailpush.token', ${JSON.stringify(phoneToken)});` });
      const page = await context.newPage();
      // The accounts screen sets the webmail link: checked before it is sent, saved, then used.
      await page.goto(`${base}/#/accounts`);
      await page.getByRole('button', { name: 'Webmail link' }).click();
      const template = page.getByLabel('Webmail address of a message');
      assert.equal(await template.inputValue(), 'https://webmail.example.test/?_mbox={mailbox}&_uid={uid}', 'the saved template');
      await template.fill('https://mail.example.test/{folder}/{uid}');
      await page.getByRole('button', { name: 'Save link' }).click();
      await page.getByRole('alert').filter({ hasText: 'Use a full https:// address whose only placeholders are {uid} and {mailbox}.' }).waitFor();
      await template.fill('https://mail.example.test/#/{mailbox}/{uid}');
      await page.getByRole('button', { name: 'Save link' }).click();
      await page.locator('#accounts-message', { hasText: /^Messages of \S+ now link to your webmail\.$/ }).waitFor();
      assert.equal((await api(base, 'GET', '/v1/accounts', { token: phoneToken })).body.accounts[0].webmailUrl, 'https://mail.example.test/#/{mailbox}/{uid}');
      await page.goto(`${base}/#/message/${accountId}/${html.uid}?mailbox=INBOX&uidValidity=${html.uidValidity}`);
      await page.locator('#message-text', { hasText: 'Quarterly numbers are up.' }).waitFor();
      assert.equal(await page.locator('#message-subject').innerText(), 'Quarterly report');
      assert.match(await page.locator('#message-headers').innerText(), /Ada Lovelace <ada@example\.test>/);
      assert.equal(await page.locator('#view-message img, #view-message script, #view-message iframe').count(), 0);
      assert.notEqual(await page.title(), 'pwned');
      assert.deepEqual(imageRequests, [], 'nothing reached the server of the remote image');
      assert.equal(await page.getByRole('link', { name: 'Open in webmail' }).getAttribute('href'), `https://mail.example.test/#/INBOX/${html.uid}`);
      // On the narrowest phone the app supports: readable, and no sideways scrolling.
      assert.deepEqual(await page.evaluate(LOW_CONTRAST), [], 'text under 4.5:1 contrast');
      assert.ok((await page.evaluate('document.documentElement.scrollWidth')) as number <= 360, 'wider than a 360 px phone');

      await page.goto(`${base}/#/message/${accountId}/${huge.uid}?mailbox=INBOX&uidValidity=${huge.uidValidity}`);
      await page.locator('#message-status', { hasText: 'only its beginning is shown' }).waitFor();
      await page.getByRole('button', { name: 'Mark as read' }).click();
      await page.locator('#message-status', { hasText: 'Marked as read.' }).waitFor();
      assert.ok((await flagsOf(huge.uid))!.includes('\\Seen'));

      // Removing the link: the message view no longer offers it.
      await page.goto(`${base}/#/accounts`);
      await page.getByRole('button', { name: 'Webmail link' }).click();
      await page.getByRole('button', { name: 'Remove link' }).click();
      await page.locator('#accounts-message', { hasText: /^Messages of \S+ no longer link to a webmail\.$/ }).waitFor();
      await page.goto(`${base}/#/message/${accountId}/${html.uid}?mailbox=INBOX&uidValidity=${html.uidValidity}`);
      await page.locator('#message-text', { hasText: 'Quarterly numbers are up.' }).waitFor();
      assert.equal(await page.getByRole('link', { name: 'Open in webmail' }).count(), 0);
    } finally {
      await context.close();
    }

    const disabled = await api(base, 'PATCH', `/v1/accounts/${accountId}`, { token: phoneToken, body: { disabled: true } });
    assert.equal(disabled.status, 200);
    const refused = await read(plain);
    assert.deepEqual([refused.status, refused.body.error.code], [409, 'account_disabled']);
    assert.deepEqual((await act(plain.uid, { action: 'seen', uidValidity: plain.uidValidity })).body.error.code, 'account_disabled');
  });
});

interface Device {
  context: BrowserContext;
  page: Page;
  sw: Worker;
  worker: ServiceWorkerPush;
  close(): Promise<void>;
}

/** A browser signed in with `token`, notifications on (showing `preview`), as the push service's subscriber `name`. */
async function openDevice(name: string, token: string, preview = 'sender'): Promise<Device> {
  const context = await browser.newContext();
  await context.grantPermissions(['notifications'], { origin: base });
  await replacePushSubscription(context, push.subscribe(name));
  await context.addInitScript({ content: `if (!localStorage.getItem('mailpush.token')) localStorage.setItem('mailpush.token', ${JSON.stringify(token)});
    localStorage.setItem('mailpush.preview', ${JSON.stringify(preview)});` });
  const page = await context.newPage();
  await page.goto(`${base}/#/settings`);
  await page.getByRole('button', { name: 'Turn on notifications' }).click();
  await page.locator('#push-state', { hasText: 'Notifications are on' }).waitFor();
  const sw = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker'));
  const worker = await ServiceWorkerPush.attach(page, base);
  return { context, page, sw, worker, close: async () => { await worker.detach(); await context.close(); } };
}

/** What the service worker gave a shown notification: its buttons and where a tap goes. */
async function notificationDetails(sw: Worker, tag: string): Promise<{ actions: Array<{ action: string; title: string }>; url: string }> {
  return sw.evaluate(`self.registration.getNotifications({ tag: ${JSON.stringify(tag)} })
    .then(([n]) => ({ actions: n.actions.map((a) => ({ action: a.action, title: a.title })), url: n.data.url }))`) as Promise<{ actions: Array<{ action: string; title: string }>; url: string }>;
}

/** Clicks the notification (or its button `action`): the event the browser would fire, inside the worker. */
async function clickNotification(sw: Worker, tag: string, action: string): Promise<void> {
  await sw.evaluate(`self.registration.getNotifications({ tag: ${JSON.stringify(tag)} }).then(([notification]) => {
    self.dispatchEvent(new NotificationEvent('notificationclick', { notification, action: ${JSON.stringify(action)} }));
  })`);
}
