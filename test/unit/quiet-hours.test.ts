// Quiet hours without a network: the daily window in the device's time zone (across midnight and
// on daylight-saving days), the pause, VIP senders, "until tomorrow", the push they turn into,
// and what the API refuses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MailEvent } from '../../src/core/types.js';
import { isQuietPush, pushFor } from '../../src/push/payload.js';
import { topicFor } from '../../src/push/sender.js';
import { DEFAULT_QUIET_HOURS, isQuietAt, nextLocalTime, pauseUntilTomorrow, type QuietHours } from '../../src/protocol/quiet-hours.js';
import { normalizeQuietHours } from '../../src/roles/web/quiet-hours-input.js';
import { ApiError } from '../../src/roles/web/errors.js';

const at = (iso: string) => Date.parse(iso);
const night: QuietHours = { enabled: true, start: '22:00', end: '07:00', timeZone: 'Asia/Tokyo', vips: ['boss@example.test'], pausedUntil: null };

test('a window across midnight, in the device\'s time zone (Tokyo is UTC+9)', () => {
  assert.equal(isQuietAt(night, at('2026-12-02T12:59:00Z')), false, '21:59 in Tokyo');
  assert.equal(isQuietAt(night, at('2026-12-02T13:00:00Z')), true, '22:00: the start is quiet');
  assert.equal(isQuietAt(night, at('2026-12-02T15:00:00Z')), true, 'midnight');
  assert.equal(isQuietAt(night, at('2026-12-02T21:59:00Z')), true, '06:59');
  assert.equal(isQuietAt(night, at('2026-12-02T22:00:00Z')), false, '07:00: the end is not');
  assert.equal(isQuietAt({ ...night, enabled: false }, at('2026-12-02T15:00:00Z')), false, 'switched off');
  const lunch: QuietHours = { ...night, start: '12:00', end: '13:00' };
  assert.equal(isQuietAt(lunch, at('2026-12-02T03:30:00Z')), true, '12:30, a window within one day');
  assert.equal(isQuietAt(lunch, at('2026-12-02T04:00:00Z')), false, '13:00');
  assert.equal(isQuietAt(lunch, at('2026-12-02T15:00:00Z')), false, 'midnight is outside it');
});

test('daylight saving: the window follows the local clock, not a fixed offset', () => {
  const newYork: QuietHours = { ...night, timeZone: 'America/New_York', start: '01:30', end: '06:00' };
  // 8 March 2026: 02:00 EST jumps to 03:00 EDT. 05:30 local is 09:30Z that morning, 10:30Z the day before.
  assert.equal(isQuietAt(newYork, at('2026-03-08T09:30:00Z')), true, '05:30 EDT');
  assert.equal(isQuietAt(newYork, at('2026-03-08T10:00:00Z')), false, '06:00 EDT: over, an hour earlier in UTC than the day before');
  assert.equal(isQuietAt(newYork, at('2026-03-07T10:30:00Z')), true, '05:30 EST the day before');
  // 1 November 2026: 02:00 EDT falls back to 01:00 EST; 01:30 comes twice and is quiet both times.
  assert.equal(isQuietAt(newYork, at('2026-11-01T05:30:00Z')), true, 'first 01:30 (EDT)');
  assert.equal(isQuietAt(newYork, at('2026-11-01T06:30:00Z')), true, 'second 01:30 (EST)');
  assert.equal(isQuietAt(newYork, at('2026-11-01T11:00:00Z')), false, '06:00 EST');
});

test('a pause is quiet until its instant, window or not', () => {
  const paused: QuietHours = { ...night, enabled: false, pausedUntil: '2026-12-02T05:00:00.000Z' };
  assert.equal(isQuietAt(paused, at('2026-12-02T04:59:59Z')), true);
  assert.equal(isQuietAt(paused, at('2026-12-02T05:00:00Z')), false, 'over at its instant');
});

test('"until tomorrow" is the next 07:00 on the device\'s clock, across a daylight-saving change too', () => {
  assert.equal(pauseUntilTomorrow('Asia/Tokyo', at('2026-12-02T14:00:00Z')), '2026-12-02T22:00:00.000Z', '23:00 → 07:00 next morning');
  assert.equal(pauseUntilTomorrow('Asia/Tokyo', at('2026-12-02T17:00:00Z')), '2026-12-02T22:00:00.000Z', '02:00 → 07:00 the same morning');
  assert.equal(pauseUntilTomorrow('Asia/Tokyo', at('2026-12-02T22:00:00Z')), '2026-12-03T22:00:00.000Z', 'at 07:00 → the next day\'s');
  assert.equal(pauseUntilTomorrow('America/New_York', at('2026-03-08T03:00:00Z')), '2026-03-08T11:00:00.000Z', '22:00 EST → 07:00 EDT');
  assert.equal(pauseUntilTomorrow('Europe/Berlin', at('2026-10-24T21:00:00Z')), '2026-10-25T06:00:00.000Z', '23:00 CEST → 07:00 CET');
  // A time the clock skips (02:30 on 8 March in New York) lands just after the jump.
  assert.equal(nextLocalTime('America/New_York', '02:30', at('2026-03-08T05:00:00Z')), at('2026-03-08T07:30:00Z'));
});

const mail = (address: string): MailEvent => ({
  id: '1-0', type: 'mail.new', accountId: 'acc_1', mailbox: 'INBOX', time: 't',
  data: { uid: 7, uidValidity: '1', messageId: null, from: { name: 'X', address }, subject: 'Hi', snippet: '', date: null, unseen: 3, catchUp: false },
} as unknown as MailEvent);

test('during quiet hours new mail goes out low, silent, under the account\'s quiet tag and topic; a VIP\'s rings', () => {
  const midnight = at('2026-12-02T15:00:00Z');
  assert.equal(isQuietPush(mail('someone@example.test'), night, midnight), true);
  assert.equal(isQuietPush(mail('Boss@Example.test'), night, midnight), false, 'a VIP, whatever the case');
  assert.equal(isQuietPush(mail('someone@example.test'), night, at('2026-12-02T03:00:00Z')), false, 'noon');
  assert.equal(isQuietPush(mail('someone@example.test'), undefined, midnight), false, 'no quiet hours set');
  const dismiss = { ...mail('x@y'), type: 'mail.flags', data: { uid: 7, seen: true, flags: [], unseen: 2 } } as unknown as MailEvent;
  assert.equal(isQuietPush(dismiss, night, midnight), false, 'a dismiss is low already');
  const quiet = pushFor(mail('someone@example.test'), 'sender', true)!;
  const loud = pushFor(mail('someone@example.test'), 'sender')!;
  assert.deepEqual([quiet.urgency, quiet.payload.silent, quiet.payload.tag], ['low', true, 'acc_1:quiet']);
  assert.deepEqual([loud.urgency, loud.payload.silent, loud.payload.tag], ['high', undefined, 'acc_1:INBOX:7']);
  assert.match(topicFor(quiet.topicKey!), /^[A-Za-z0-9_-]{32}$/);
  assert.notEqual(topicFor(quiet.topicKey!), topicFor(loud.topicKey!), 'a VIP\'s push never replaces the night\'s quiet one');
});

test('the API stores one spelling and refuses what a schema cannot see', () => {
  const now = at('2026-12-02T12:00:00Z');
  const saved = normalizeQuietHours({ ...night, vips: [' Boss@Example.test', 'boss@example.test'], pausedUntil: '2026-12-02T13:00:00+01:00' }, now);
  assert.deepEqual(saved.vips, ['boss@example.test']);
  assert.equal(saved.pausedUntil, null, 'a pause already over is none');
  assert.equal(normalizeQuietHours({ ...night, pausedUntil: '2026-12-02T13:00:00Z' }, now).pausedUntil, '2026-12-02T13:00:00.000Z');
  const refused = (input: QuietHours) => assert.throws(() => normalizeQuietHours(input, now), (e: unknown) => e instanceof ApiError && e.code === 'invalid_quiet_hours');
  refused({ ...night, timeZone: 'Mars/Olympus_Mons' });
  refused({ ...night, start: '07:00', end: '07:00' });
  refused({ ...night, pausedUntil: '2026-12-20T00:00:00Z' });
  assert.equal(normalizeQuietHours({ ...DEFAULT_QUIET_HOURS, start: '07:00', end: '07:00' }, now).enabled, false, 'an empty window is fine while off');
});
