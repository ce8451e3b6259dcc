// Quiet hours of one device, as the API shows them and as the gateway decides with them, shared by
// the server (which sends a quiet push) and the web app (which offers "pause until tomorrow").
// Times are the device's wall clock in its IANA time zone, so a window keeps meaning "22:00 to
// 07:00 where the phone is" across daylight-saving changes; only Intl is used, which the browser
// and Node both carry, so the service worker and page need no date library.

/** GET / PUT /v1/devices/:id/quiet-hours. */
export interface QuietHours {
  /** Quiet every day from `start` to `end`; a window whose end is earlier than its start crosses midnight. */
  enabled: boolean;
  /** Local "HH:MM", 24-hour clock. */
  start: string;
  end: string;
  /** IANA name, e.g. "Asia/Tokyo"; the web app sends the browser's. */
  timeZone: string;
  /** Sender addresses whose mail still rings during quiet hours and pauses (compared without case). */
  vips: string[];
  /** Quiet regardless of the window until this instant (ISO 8601); null when not paused. */
  pausedUntil: string | null;
}

export interface QuietHoursEnvelope {
  quietHours: QuietHours;
}

export const QUIET_HOURS_MAX_VIPS = 50;
/** RFC 5321's longest path. */
export const QUIET_HOURS_VIP_MAX_LENGTH = 254;
/** A pause longer than this is refused: "pause" is for an hour or a night, not a way to switch notifications off. */
export const QUIET_HOURS_MAX_PAUSE_MS = 7 * 24 * 3600_000;
/** "Until tomorrow" lasts until this local time. */
export const PAUSE_UNTIL_LOCAL_TIME = '07:00';
export const LOCAL_TIME_PATTERN_SOURCE = '^([01][0-9]|2[0-3]):[0-5][0-9]$';

/** What a device that never set quiet hours has. */
export const DEFAULT_QUIET_HOURS: QuietHours = { enabled: false, start: '22:00', end: '07:00', timeZone: 'UTC', vips: [], pausedUntil: null };

export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall clock in `timeZone` at `instant`. */
function wallClock(instant: number, timeZone: string): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  let format = formatters.get(timeZone);
  if (!format) {
    // h23: midnight is 00, never 24.
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(timeZone, format);
  }
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(instant)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!, second: parts.second! };
}

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Whether `instant` falls in the daily window (start inclusive, end exclusive); an empty window never does. */
export function inQuietWindow(quiet: Pick<QuietHours, 'start' | 'end' | 'timeZone'>, instant: number): boolean {
  const { hour, minute } = wallClock(instant, quiet.timeZone);
  const now = hour * 60 + minute;
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  return start <= end ? now >= start && now < end : now >= start || now < end;
}

/** Whether a device's new-mail push at `instant` goes out quietly: paused, or inside its enabled window. */
export function isQuietAt(quiet: QuietHours, instant: number): boolean {
  if (quiet.pausedUntil !== null && Date.parse(quiet.pausedUntil) > instant) return true;
  return quiet.enabled && inQuietWindow(quiet, instant);
}

/** Whether mail from `address` rings anyway. */
export function isVip(quiet: Pick<QuietHours, 'vips'>, address: string | undefined): boolean {
  const wanted = address?.trim().toLowerCase();
  return Boolean(wanted) && quiet.vips.some((vip) => vip.toLowerCase() === wanted);
}

/**
 * The first instant after `after` at which the clock in `timeZone` shows `hhmm` (today's when it is
 * still ahead, else tomorrow's). On a day when that local time does not exist (a daylight-saving
 * jump over it) the instant is as far past the jump as the time was.
 */
export function nextLocalTime(timeZone: string, hhmm: string, after: number): number {
  const today = wallClock(after, timeZone);
  const target = minutesOf(hhmm);
  const dayOffset = today.hour * 60 + today.minute < target ? 0 : 1;
  // The local date and time as if it were UTC, then corrected by the zone's offset at that moment;
  // a second pass settles a guess that landed on the other side of an offset change.
  const asUtc = Date.UTC(today.year, today.month - 1, today.day + dayOffset, Math.floor(target / 60), target % 60);
  const offsetAt = (instant: number) => {
    const c = wallClock(instant, timeZone);
    return Date.UTC(c.year, c.month - 1, c.day, c.hour, c.minute, c.second) - instant;
  };
  const first = asUtc - offsetAt(asUtc);
  const second = asUtc - offsetAt(first);
  const shows = (instant: number) => {
    const c = wallClock(instant, timeZone);
    return c.hour * 60 + c.minute === target;
  };
  if (shows(second)) return second;
  if (shows(first)) return first;
  return Math.max(first, second); // skipped by the clock: the later guess is past the jump
}

/** "Pause until tomorrow": the next PAUSE_UNTIL_LOCAL_TIME in the device's time zone, as ISO 8601. */
export function pauseUntilTomorrow(timeZone: string, now: number): string {
  return new Date(nextLocalTime(timeZone, PAUSE_UNTIL_LOCAL_TIME, now)).toISOString();
}

/** "Pause for an hour". */
export function pauseForAnHour(now: number): string {
  return new Date(now + 3600_000).toISOString();
}
