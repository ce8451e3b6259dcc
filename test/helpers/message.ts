// Builds RFC 5322 test messages (CRLF line endings, MIME 1.0, text/plain).
//
// Non-ASCII display names and subjects are written as RFC 2047 encoded words
// (=?UTF-8?B?...?=), the way real mail clients send them, so tests exercise the
// server's and imapflow's header decoding instead of relying on raw 8-bit
// headers. `rawSubject` lets a test inject any pre-encoded header verbatim
// (e.g. ISO-2022-JP) to check decoding of legacy charsets.
import { randomBytes } from 'node:crypto';

export interface MailAddress {
  name?: string;
  address: string;
}

export interface BuildMessageOptions {
  from: MailAddress;
  to: string | MailAddress | Array<string | MailAddress>;
  /** Plain text subject; encoded as RFC 2047 words when not pure ASCII. */
  subject?: string;
  /** Subject header value inserted verbatim (already encoded). Overrides `subject`. */
  rawSubject?: string;
  /** Default: now. */
  date?: Date;
  /** Plain text body (default "Hello from the mailpush tests."). */
  body?: string;
  /** Default: generated "<random@example.test>". Angle brackets are added if missing. */
  messageId?: string;
  /** Body Content-Transfer-Encoding for non-ASCII bodies (default '8bit'). */
  bodyEncoding?: '8bit' | 'base64';
  /**
   * Extra header fields, added after the standard ones. A name that matches a
   * generated header (case-insensitively) replaces it. Non-ASCII values are
   * encoded as RFC 2047 words; values must not contain CR or LF.
   */
  extraHeaders?: Record<string, string>;
}

// RFC 2047 section 2: an encoded word is at most 75 characters, and a header
// line containing encoded words is at most 76 characters.
const MAX_ENCODED_LINE = 76;
const WORD_OVERHEAD = '=?UTF-8?B?'.length + '?='.length; // 12

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

export function randomMessageId(domain = 'example.test'): string {
  return `<${randomBytes(12).toString('hex')}@${domain}>`;
}

/**
 * Encodes `text` as one or more UTF-8 base64 encoded words joined by folding
 * whitespace ("\r\n "). `firstLineUsed` is how many characters of the first
 * line are already taken (e.g. "Subject: " = 9), so that line also stays
 * within 76 characters. Words are cut only between code points, never inside
 * a UTF-8 sequence, as RFC 2047 requires ("integral number of characters").
 */
export function encodeWords(text: string, firstLineUsed = 0): string {
  const words: string[] = [];
  // Max payload bytes for a word on a line that has `used` characters already:
  // base64 turns every 3 bytes into 4 characters.
  const budgetFor = (used: number): number => Math.floor((MAX_ENCODED_LINE - used - WORD_OVERHEAD) / 4) * 3;
  let budget = Math.max(budgetFor(firstLineUsed), 6); // 6: room for any single code point
  let chunk: Buffer[] = [];
  let chunkBytes = 0;
  const flush = (): void => {
    words.push(`=?UTF-8?B?${Buffer.concat(chunk).toString('base64')}?=`);
    chunk = [];
    chunkBytes = 0;
    budget = budgetFor(1); // continuation lines start with a single space
  };
  for (const codePoint of text) {
    // for..of iterates code points, so surrogate pairs (emoji) stay together.
    const bytes = Buffer.from(codePoint, 'utf8');
    if (chunkBytes + bytes.length > budget && chunkBytes > 0) flush();
    chunk.push(bytes);
    chunkBytes += bytes.length;
  }
  if (chunkBytes > 0 || words.length === 0) flush();
  return words.join('\r\n ');
}

function assertNoLineBreaks(what: string, value: string): void {
  if (/[\r\n]/.test(value)) throw new Error(`${what} must not contain CR or LF: ${JSON.stringify(value)}`);
}

/**
 * Unstructured header value (Subject, custom headers): left alone when it is
 * plain ASCII; otherwise encoded. ASCII text that itself looks like an encoded
 * word ("=?") is encoded too, so a decoder cannot misread it.
 */
export function encodeUnstructured(value: string, firstLineUsed: number): string {
  assertNoLineBreaks('header value', value);
  return NON_ASCII.test(value) || value.includes('=?') ? encodeWords(value, firstLineUsed) : value;
}

/** RFC 5322 atext plus spaces: such a display name needs no quoting. */
const PLAIN_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/;

/**
 * Formats a mailbox as `Name <addr>`, `"Quoted, Name" <addr>`, `=?UTF-8?B?..?= <addr>` or `addr`.
 * `firstLineUsed`: characters already on the first line; `trailing`: characters
 * that will follow on the last line (e.g. 1 for a list comma).
 */
export function formatAddress(mailbox: string | MailAddress, firstLineUsed = 0, trailing = 0): string {
  const { name, address } = typeof mailbox === 'string' ? { name: undefined, address: mailbox } : mailbox;
  assertNoLineBreaks('address', address);
  if (name === undefined || name === '') return address;
  assertNoLineBreaks('display name', name);
  let phrase: string;
  if (NON_ASCII.test(name) || name.includes('=?')) {
    // An encoded word may not appear inside a quoted string, so it stands alone.
    phrase = encodeWords(name, firstLineUsed);
  } else if (PLAIN_PHRASE.test(name)) {
    phrase = name;
  } else {
    phrase = `"${name.replace(/(["\\])/g, '\\$1')}"`;
  }
  const lastLine = phrase.slice(phrase.lastIndexOf('\n') + 1);
  const lastLineLength = (phrase.includes('\n') ? 0 : firstLineUsed) + lastLine.length;
  // Keep lines with encoded words within 76 characters by folding before the
  // angle-addr when needed (folding whitespace is allowed there).
  const separator = lastLineLength + ' <>'.length + address.length + trailing > MAX_ENCODED_LINE ? '\r\n ' : ' ';
  return `${phrase}${separator}<${address}>`;
}

/** RFC 5322 date-time in UTC, e.g. "Tue, 28 Nov 2023 12:00:00 +0000". */
export function formatDate(date: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number): string => String(n).padStart(2, '0');
  return (
    `${days[date.getUTCDay()]}, ${pad(date.getUTCDate())} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

function encodeBody(body: string, encoding: '8bit' | 'base64'): { cte: string; text: string } {
  const normalised = body.replace(/\r\n|\r|\n/g, '\r\n');
  if (encoding === 'base64') {
    const b64 = Buffer.from(normalised, 'utf8').toString('base64');
    return { cte: 'base64', text: (b64.match(/.{1,76}/g) ?? []).join('\r\n') };
  }
  return { cte: NON_ASCII.test(normalised) ? '8bit' : '7bit', text: normalised };
}

/** Builds a complete message. The result uses CRLF everywhere and ends with CRLF. */
export function buildMessage(options: BuildMessageOptions): string {
  const recipients = Array.isArray(options.to) ? options.to : [options.to];
  const messageId = options.messageId
    ? options.messageId.startsWith('<') ? options.messageId : `<${options.messageId}>`
    : randomMessageId();
  const { cte, text } = encodeBody(options.body ?? 'Hello from the mailpush tests.', options.bodyEncoding ?? '8bit');

  // [name, value] pairs; values may already contain folding ("\r\n ").
  const headers: Array<[string, string]> = [
    ['Date', formatDate(options.date ?? new Date())],
    ['From', formatAddress(options.from, 'From: '.length)],
    [
      'To',
      recipients
        .map((r, i) => formatAddress(r, i === 0 ? 'To: '.length : 1, i < recipients.length - 1 ? 1 : 0))
        .join(',\r\n '),
    ],
  ];
  if (options.rawSubject !== undefined) {
    assertNoLineBreaks('rawSubject', options.rawSubject.replace(/\r\n[ \t]/g, ' '));
    headers.push(['Subject', options.rawSubject]);
  } else if (options.subject !== undefined) {
    headers.push(['Subject', encodeUnstructured(options.subject, 'Subject: '.length)]);
  }
  headers.push(
    ['Message-ID', messageId],
    ['MIME-Version', '1.0'],
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Transfer-Encoding', cte],
  );

  for (const [name, value] of Object.entries(options.extraHeaders ?? {})) {
    if (!/^[!-9;-~]+$/.test(name)) throw new Error(`invalid header name ${JSON.stringify(name)}`);
    const encoded = encodeUnstructured(value, name.length + 2);
    const existing = headers.findIndex(([n]) => n.toLowerCase() === name.toLowerCase());
    if (existing >= 0) headers[existing] = [name, encoded];
    else headers.push([name, encoded]);
  }

  const head = headers.map(([name, value]) => `${name}: ${value}`).join('\r\n');
  return `${head}\r\n\r\n${text}${text.endsWith('\r\n') ? '' : '\r\n'}`;
}
