// A short plain-text preview of a message, for notifications at preview level "full".
//
// We fetch only the first couple of kilobytes of the first text part (BODY.PEEK[part]<0.n>), so a
// 20 MB attachment costs nothing, then undo the transfer encoding and the charset ourselves.

import iconv from 'iconv-lite';
import { decode as decodeQuotedPrintable } from 'libqp';
import type { MessageStructureObject } from 'imapflow';

export const SNIPPET_FETCH_BYTES = 2048;
const SNIPPET_CHARS = 200;

export interface TextPart {
  /** The BODY[...] key: "1", "1.2", or "TEXT" for a message that is not multipart. */
  key: string;
  html: boolean;
  encoding: string;
  charset: string;
}

/** The first inline text/plain part, else the first text/html one. */
export function findTextPart(structure: MessageStructureObject | undefined): TextPart | undefined {
  let html: TextPart | undefined;
  const walk = (node: MessageStructureObject): TextPart | undefined => {
    if (node.childNodes?.length) {
      for (const child of node.childNodes) {
        const found = walk(child);
        if (found) return found;
      }
      return undefined;
    }
    if (node.disposition === 'attachment') return undefined;
    const part: TextPart = {
      key: node.part ?? 'TEXT',
      html: node.type === 'text/html',
      encoding: (node.encoding ?? '7bit').toLowerCase(),
      charset: node.parameters?.charset ?? 'utf-8',
    };
    if (node.type === 'text/plain') return part;
    if (node.type === 'text/html') html ??= part;
    return undefined;
  };
  return (structure && walk(structure)) ?? html;
}

/** Decodes the first bytes of a text part into at most 200 characters of readable text. */
export function snippetFrom(raw: Buffer, part: TextPart): string {
  let bytes = raw;
  if (part.encoding === 'base64') {
    const text = raw.toString('ascii').replace(/[^A-Za-z0-9+/=]/g, '');
    bytes = Buffer.from(text.slice(0, text.length - (text.length % 4)), 'base64');
  } else if (part.encoding === 'quoted-printable') {
    // A cut in the middle of "=XX" would decode to garbage: drop a trailing partial escape.
    bytes = decodeQuotedPrintable(raw.toString('latin1').replace(/=[0-9A-Fa-f]?$/, ''));
  }
  let text = iconv.encodingExists(part.charset) ? iconv.decode(bytes, part.charset) : bytes.toString('utf8');
  if (part.html) {
    text = text
      .replace(/<(style|script)[\s\S]*?(<\/\1>|$)/gi, ' ')
      .replace(/<[^>]*>?/g, ' ')
      .replace(/&nbsp;/g, ' ').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'");
  }
  // The fetch may have stopped inside a character: a trailing U+FFFD is that cut, not content.
  text = text.replace(/\uFFFD+$/, '').replace(/\s+/g, ' ').trim();
  const chars = [...text];
  return chars.length > SNIPPET_CHARS ? `${chars.slice(0, SNIPPET_CHARS).join('').trimEnd()}…` : text;
}
