// What PUT /v1/devices/:id/quiet-hours stores: the schema has checked the shapes; this checks what
// a schema cannot (a real IANA time zone, a window that is not empty, a pause that ends within a
// week) and stores one spelling of each thing, so the push path compares like with like.

import { QUIET_HOURS_MAX_PAUSE_MS, isValidTimeZone, type QuietHours } from '../../protocol/quiet-hours.js';
import { ApiError } from './errors.js';

const invalid = (message: string) => new ApiError(400, 'invalid_quiet_hours', message);

export function normalizeQuietHours(given: QuietHours, now: number): QuietHours {
  if (!isValidTimeZone(given.timeZone)) throw invalid(`timeZone ${JSON.stringify(given.timeZone)} is not an IANA time zone (e.g. Asia/Tokyo)`);
  if (given.enabled && given.start === given.end) throw invalid('start and end are the same time: the window would be empty');
  let pausedUntil: string | null = null;
  if (given.pausedUntil !== null) {
    const until = Date.parse(given.pausedUntil);
    if (Number.isNaN(until)) throw invalid('pausedUntil is not a date and time');
    if (until - now > QUIET_HOURS_MAX_PAUSE_MS) throw invalid('pausedUntil is more than 7 days ahead; turn notifications off instead');
    // A pause that is over already is no pause.
    if (until > now) pausedUntil = new Date(until).toISOString();
  }
  return {
    enabled: given.enabled,
    start: given.start,
    end: given.end,
    // The canonical name ("Asia/Calcutta" → "Asia/Kolkata" where Intl knows both).
    timeZone: new Intl.DateTimeFormat('en-US', { timeZone: given.timeZone }).resolvedOptions().timeZone,
    vips: [...new Set(given.vips.map((address) => address.trim().toLowerCase()))],
    pausedUntil,
  };
}
