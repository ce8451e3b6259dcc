// The app's one catalog (src/protocol/i18n): every language has every message with the same
// parameters, every message formats, the service worker carries the very same catalog, and the
// views take their text from it rather than from string literals of their own.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { en } from '../../src/protocol/i18n/messages-en.js';
import {
  catalogs, LOCALES, negotiateLocale, translate,
  type Message, type MessageKey, type PlainKey,
} from '../../src/protocol/i18n/translate.js';
import { pushFor } from '../../src/push/payload.js';
import type { MailEvent } from '../../src/core/types.js';

const root = new URL('../../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const keys = Object.keys(en) as MessageKey[];

const texts = (message: Message): string[] => (typeof message === 'string' ? [message] : Object.values(message) as string[]);
const placeholders = (message: Message): string[] => [...new Set(texts(message).flatMap((text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!)))].sort();
/** Sample parameters for a message: numbers for counts, a string with non-ASCII for the rest. */
function sampleParams(message: Message, count: number): Record<string, string | number> {
  const params: Record<string, string | number> = typeof message === 'string' ? {} : { count };
  for (const name of placeholders(message)) params[name] = name === 'count' ? count : `<${name} ü 日本>`;
  return params;
}
const format = (locale: (typeof LOCALES)[number], key: MessageKey, params: Record<string, string | number>) =>
  (translate as (locale: string, key: string, params: Record<string, string | number>) => string)(locale, key, params);

test('every catalog has exactly the English keys, with the same kind of message and the same placeholders', () => {
  for (const locale of LOCALES) {
    const catalog = catalogs[locale];
    assert.deepEqual(Object.keys(catalog).sort(), [...keys].sort(), `${locale}: keys`);
    for (const key of keys) {
      assert.equal(typeof catalog[key], typeof en[key], `${locale} ${key}: plural in one catalog, plain in another`);
      assert.deepEqual(placeholders(catalog[key]), placeholders(en[key]), `${locale} ${key}: placeholders`);
      for (const text of texts(catalog[key])) {
        assert.ok(text.trim() !== '', `${locale} ${key}: empty`);
        assert.doesNotMatch(text.replace(/\{\w+\}/g, ''), /[{}<>]/, `${locale} ${key}: a stray brace or markup`);
      }
    }
  }
});

test('plural messages have the forms their language needs (Intl.PluralRules) and no others', () => {
  for (const locale of LOCALES) {
    const needed = new Intl.PluralRules(locale).resolvedOptions().pluralCategories;
    for (const key of keys) {
      const message = catalogs[locale][key];
      if (typeof message === 'string') continue;
      assert.deepEqual(Object.keys(message).sort(), [...needed].sort(), `${locale} ${key}`);
      for (const text of texts(message)) assert.match(text, /\{count\}/, `${locale} ${key}: every form shows the count`);
    }
  }
});

test('every message formats with sample parameters: nothing left unfilled, counts in the locale’s digits', () => {
  for (const locale of LOCALES) {
    for (const key of keys) {
      for (const count of [0, 1, 2, 1234]) {
        const message = catalogs[locale][key];
        const text = format(locale, key, sampleParams(message, count));
        assert.doesNotMatch(text, /\{\w+\}/, `${locale} ${key}: ${text}`);
        for (const name of placeholders(message).filter((n) => n !== 'count')) assert.ok(text.includes(`<${name} ü 日本>`), `${locale} ${key} shows ${name}`);
        if (placeholders(message).includes('count')) assert.ok(text.includes(new Intl.NumberFormat(locale).format(count)), `${locale} ${key}: ${text}`);
      }
    }
  }
});

test('the wording people see: plurals in English, counters in Japanese', () => {
  assert.equal(translate('en', 'push.newMessages', { count: 1 }), '1 new message');
  assert.equal(translate('en', 'push.newMessages', { count: 3 }), '3 new messages');
  assert.equal(translate('en', 'accounts.unread', { count: 1234 }), '1,234 unread');
  assert.equal(translate('ja', 'push.newMessages', { count: 3 }), '新着メール 3 件');
  assert.equal(translate('ja', 'push.unread', { count: 1 }), '未読 1 件');
  assert.equal(translate('ja', 'push.newMail'), '新着メール');
  assert.equal(translate('ja', 'accounts.removeLabel', { email: 'a@example.test' }), 'a@example.test を削除');
});

test('the language follows the preferred languages: the first one with a catalog, English otherwise', () => {
  assert.equal(negotiateLocale(['ja-JP', 'en-US']), 'ja');
  assert.equal(negotiateLocale(['ja']), 'ja');
  assert.equal(negotiateLocale(['JA_jp']), 'ja');
  assert.equal(negotiateLocale(['fr-FR', 'ja', 'en']), 'ja', 'French is not offered, Japanese is the next choice');
  assert.equal(negotiateLocale(['en-GB', 'ja']), 'en');
  assert.equal(negotiateLocale(['de', 'fr']), 'en');
  assert.equal(negotiateLocale([]), 'en');
});

test('the service worker carries the same catalog and formatter, inlined by the build', () => {
  const sw = read('dist/pwa/sw.js');
  const declaration = /^const MAILPUSH_I18N = [^]*?(?=^\/\/ End of the inlined catalog\.$)/m.exec(sw)?.[0];
  assert.ok(declaration, 'dist/pwa/sw.js starts with the inlined catalog (run npm run build)');
  const i18n = runInNewContext(`${declaration}\nMAILPUSH_I18N`, { Intl }) as { catalogs: unknown; translate: typeof translate; negotiateLocale: typeof negotiateLocale };
  assert.deepEqual(JSON.parse(JSON.stringify(i18n.catalogs)), JSON.parse(JSON.stringify(catalogs)));
  assert.equal(i18n.translate('ja', 'push.unread', { count: 2 }), '未読 2 件');
  assert.equal(i18n.translate('en', 'push.newMessages', { count: 2 }), '2 new messages');
  assert.equal(i18n.negotiateLocale(['ja-JP']), 'ja');
});

test('push payloads carry the data the service worker renders text from: the preview level and the count', () => {
  const event = (type: string, data: object) => ({ id: '1-0', type, accountId: 'acc_1', mailbox: 'INBOX', time: 't', data }) as unknown as MailEvent;
  const mail = event('mail.new', { uid: 7, uidValidity: '1', messageId: null, from: { name: 'Ada', address: 'a@x' }, subject: 'Hi', date: null, unseen: 3, catchUp: false });
  for (const preview of ['none', 'sender', 'full'] as const) assert.equal(pushFor(mail, preview)!.payload.preview, preview);
  const batch = pushFor(event('mail.batch', { count: 12, unseen: 15 }), 'full')!.payload;
  assert.deepEqual([batch.count, batch.unseen], [12, 15]);
});

// ---- No text of their own in the views --------------------------------------------------------

const viewFiles = [
  ...readdirSync(new URL('pwa/app/', root)).filter((name) => name.endsWith('.ts')).map((name) => `pwa/app/${name}`),
  'pwa/sw/sw.ts',
];

/** String and template literals of a TypeScript source, comments removed (a simple scanner, not a parser). */
function literals(source: string): string[] {
  const found: string[] = [];
  const pattern = /\/\/[^\n]*|\/\*[^]*?\*\/|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`/g;
  for (const [token] of source.matchAll(pattern)) if (!token.startsWith('/')) found.push(token.slice(1, -1));
  return found;
}

/** Words for people: two words in a row, a capitalised word alone ('Remove', 'Live…'), or any Japanese. */
const looksLikeText = (literal: string) => {
  const plain = literal.replace(/\$\{[^}]*\}/g, '').trim();
  return /[A-Za-z]{2,}[ ,]+[A-Za-z]{2,}/.test(plain) || /^[A-Z][a-z]+\W*$/.test(plain) || /[\u3040-\u30ff\u4e00-\u9fff]/.test(plain);
};

/** Literals no person reads, each for a reason. */
const DEVELOPER_TEXT = [
  /^#\$\{id\} is missing from index\.html$/, // dom.ts: a broken build, thrown at start
  /^Bearer \$\{(token|settings\.token)\}$/, // the Authorization header
  /^network error$/, // api.ts: ApiFailure's message for code `network`, which describeError turns into a sentence
  /^(signed out|no answer to ping)$/, // event-stream.ts: WebSocket close reasons, for the server's logs
  /^Notification$/, // notifications.ts: the API's name ('Notification' in window)
  /^badge update failed$/, // sw.ts: a console warning
];

test('the views have no text for people of their own: it all comes from the catalog', () => {
  const offenders: string[] = [];
  for (const file of viewFiles) {
    const source = read(file).replace(/^import [^;]*;$/gm, '');
    for (const literal of literals(source)) {
      if (looksLikeText(literal) && !DEVELOPER_TEXT.some((pattern) => pattern.test(literal))) offenders.push(`${file}: ${JSON.stringify(literal)}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('the scanner would notice text in a view', () => {
  const sample = `el('span', { text: 'Unread' }); button.textContent = "Add mailbox"; confirm(\`Remove \${email}?\`); say(x, '未読');
    // Comments may say anything at all.
    t('accounts.remove'); el('li', { class: 'account', attrs: { 'data-account-id': id } });`;
  assert.deepEqual(literals(sample).filter(looksLikeText), ['Unread', 'Add mailbox', 'Remove ${email}?', '未読']);
});

test('index.html has no text of its own: every element with words names a catalog key, and the keys exist', () => {
  const html = read('pwa/static/index.html');
  const body = html.replace(/<script[^]*?<\/script>/g, '').replace(/<!--[^]*?-->/g, '');
  const textNodes = [...body.matchAll(/>([^<]+)</g)].map((m) => m[1]!.trim()).filter((text) => text !== '' && text !== 'mailpush');
  assert.deepEqual(textNodes, [], 'text outside data-i18n (the brand name alone is allowed)');
  for (const [, attribute, value] of body.matchAll(/\s(aria-label|alt|title|placeholder|content)="([^"]*)"/g)) {
    // Values for browsers, not people: the viewport, colours, the charset, iOS's Home Screen metas.
    const technical = attribute === 'content' && /^(width=|#|utf-8|yes$|default$)/.test(value!);
    assert.ok(value === '' || technical, `${attribute}="${value}" is text of its own; use data-i18n-attr`);
  }
  const named = [
    ...[...body.matchAll(/data-i18n="([^"]+)"/g)].map((m) => m[1]!),
    ...[...body.matchAll(/data-i18n-attr="([^"]+)"/g)].flatMap((m) => m[1]!.split(/\s+/).map((pair) => pair.split(':')[1]!)),
  ];
  assert.ok(named.length > 20);
  for (const key of named) {
    assert.ok(key in en, `index.html names ${key}, which is not in the catalog`);
    assert.equal(typeof en[key as MessageKey], 'string', `${key} takes parameters; index.html cannot give them`);
    assert.equal(placeholders(en[key as PlainKey]).length, 0, `${key} takes parameters; index.html cannot give them`);
  }
});
