// Size caps for what IMAP servers and senders put into events. A sender chooses the subject and
// the name, a server the flags and error texts: without caps a 2 MB Subject is stored in every
// event, replayed on every socket open and kept in the log. With them any event is at most
// MAX_EVENT_BYTES of JSON (UTF-8), whatever the input; a unit test builds the worst case.
//
// Sizes are counted as the text takes in the event's JSON (UTF-8, with escapes: a quote is 2
// bytes, a control character up to 6), so the bound holds for the bytes actually sent.

/** The most any one event may take as JSON, id included. */
export const MAX_EVENT_BYTES = 8 * 1024;

/** Caps in JSON bytes, the "…" included. The snippet is also cut at 200 characters where it is made. */
export const FIELD_CAPS = {
  subject: 1024,
  name: 256,
  address: 256,
  messageId: 256,
  snippet: 1024,
  error: 512,
} as const;

/** mail.flags carries at most this many flags, system flags (\Seen, \Flagged…) first. */
export const MAX_FLAGS = 32;
/** A flag longer than this is left out (cutting it would name another flag). */
export const MAX_FLAG_BYTES = 64;

const ELLIPSIS = '…';
const ELLIPSIS_BYTES = 3;

/** The bytes one code point takes inside a JSON string (as JSON.stringify writes it), UTF-8. */
function jsonBytes(codePoint: number): number {
  if (codePoint === 0x22 || codePoint === 0x5c) return 2; // \" \\
  if (codePoint < 0x20) return codePoint === 0x08 || codePoint === 0x09 || codePoint === 0x0a || codePoint === 0x0c || codePoint === 0x0d ? 2 : 6;
  if (codePoint < 0x80) return 1;
  if (codePoint < 0x800) return 2;
  if (codePoint >= 0xd800 && codePoint <= 0xdfff) return 6; // a lone surrogate is written \udxxx
  if (codePoint < 0x10000) return 3;
  return 4;
}

/** The bytes `text` takes inside a JSON string. */
export function jsonTextBytes(text: string): number {
  let bytes = 0;
  for (const char of text) bytes += jsonBytes(char.codePointAt(0)!);
  return bytes;
}

/**
 * `text` when it fits in `maxBytes` (JSON bytes, see above); else its longest start that fits
 * together with a trailing "…", cut between code points (a surrogate pair stays whole).
 */
export function capText(text: string, maxBytes: number): string {
  // Fast path: even if every UTF-16 unit took 6 bytes it would fit.
  if (text.length * 6 <= maxBytes) return text;
  let bytes = 0;
  let fitsWithEllipsis = 0; // length in UTF-16 units of the longest start that leaves room for "…"
  for (let i = 0; i < text.length;) {
    const codePoint = text.codePointAt(i)!;
    const units = codePoint > 0xffff ? 2 : 1;
    bytes += jsonBytes(codePoint);
    if (bytes > maxBytes) return `${text.slice(0, fitsWithEllipsis)}${ELLIPSIS}`;
    i += units;
    if (bytes + ELLIPSIS_BYTES <= maxBytes) fitsWithEllipsis = i;
  }
  return text;
}

/** The flags an event carries: system flags first, at most MAX_FLAGS, none longer than MAX_FLAG_BYTES. */
export function capFlags(flags: readonly string[]): string[] {
  const short = flags.filter((flag) => jsonTextBytes(flag) <= MAX_FLAG_BYTES);
  if (short.length <= MAX_FLAGS) return short;
  const system = short.filter((flag) => flag.startsWith('\\'));
  const keywords = short.filter((flag) => !flag.startsWith('\\'));
  return [...system, ...keywords].slice(0, MAX_FLAGS).sort();
}
