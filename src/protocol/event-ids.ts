// Event ids are "<ms>-<seq>", two decimal integers, as Redis stream ids (and the embedded log's)
// are written: increasing per user, opaque to clients. The server checks `since` with the
// pattern and orders ids with compareEventIds; the web app orders the ids it stores the same way.

/** At most 20 digits each side (what a 64-bit integer needs); also the JSON schema's `pattern`. */
export const EVENT_ID_PATTERN_SOURCE = '^[0-9]{1,20}-[0-9]{1,20}$';
export const EVENT_ID_PATTERN = new RegExp(EVENT_ID_PATTERN_SOURCE);
export const EVENT_ID_MAX_LENGTH = 41;
/** The largest value either side of an id may have: 2^64-1, as Redis stream ids. */
const MAX_ID_PART = '18446744073709551615';
/** The largest event id: nothing can follow it. */
export const MAX_EVENT_ID = `${MAX_ID_PART}-${MAX_ID_PART}`;

/**
 * True when `id` matches EVENT_ID_PATTERN and each side fits in 64 bits. The pattern alone lets
 * "99999999999999999999-0" through, which Redis refuses; the REST routes and the stream check this.
 */
export function isEventId(id: string): boolean {
  if (!EVENT_ID_PATTERN.test(id)) return false;
  return canonicalEventId(id).split('-').every((part) => part.length < MAX_ID_PART.length || part <= MAX_ID_PART);
}

/**
 * Compares two event ids in log order. Runs for every live event on every socket, so it compares
 * the digits in place instead of splitting and parsing: for numbers written without leading
 * zeros, more digits means larger, and equally many compare like text. (Number() would also lose
 * precision past 2^53, which an id's 20 digits allow.) Ids the gateway sends are written so;
 * canonicalEventId() brings any other id matching EVENT_ID_PATTERN into that form.
 */
export function compareEventIds(a: string, b: string): number {
  const aDash = a.indexOf('-');
  const bDash = b.indexOf('-');
  if (aDash !== bDash) return aDash - bDash;
  for (let i = 0; i < aDash; i++) {
    const diff = a.charCodeAt(i) - b.charCodeAt(i);
    if (diff !== 0) return diff;
  }
  if (a.length - aDash !== b.length - bDash) return a.length - aDash - (b.length - bDash);
  for (let i = aDash + 1; i < a.length; i++) {
    const diff = a.charCodeAt(i) - b.charCodeAt(i);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** The id without leading zeros ("007-01" → "7-1"), the form compareEventIds expects. */
export function canonicalEventId(id: string): string {
  return id.replace(/^0+(?=\d)/, '').replace(/-0+(?=\d)/, '-');
}
