import { test } from 'node:test';
import assert from 'node:assert/strict';
import iconv from 'iconv-lite';
import { findTextPart, snippetFrom } from '../../src/imap/snippet.js';

test('the first inline text/plain part wins; html is the fallback; attachments never', () => {
  const structure = {
    type: 'multipart/mixed',
    childNodes: [
      { part: '1', type: 'multipart/alternative', childNodes: [
        { part: '1.1', type: 'text/html', encoding: 'quoted-printable', parameters: { charset: 'utf-8' } },
        { part: '1.2', type: 'text/plain', encoding: 'base64', parameters: { charset: 'iso-8859-1' } },
      ] },
      { part: '2', type: 'text/plain', disposition: 'attachment' },
    ],
  };
  assert.deepEqual(findTextPart(structure as never), { key: '1.2', html: false, encoding: 'base64', charset: 'iso-8859-1' });
  assert.equal(findTextPart({ type: 'text/html', encoding: '8bit' } as never)!.key, 'TEXT', 'a single-part message is BODY[TEXT]');
  assert.equal(findTextPart({ type: 'multipart/mixed', childNodes: [{ part: '1', type: 'image/png' }] } as never), undefined);
});

test('transfer encodings and charsets are undone, html is reduced to text, long text is cut', () => {
  const latin1 = Buffer.from(iconv.encode('Grüße aus Köln', 'iso-8859-1').toString('base64'));
  assert.equal(snippetFrom(latin1, { key: '1', html: false, encoding: 'base64', charset: 'iso-8859-1' }), 'Grüße aus Köln');
  // A fetch cut inside a quoted-printable escape and a base64 quad.
  assert.equal(snippetFrom(Buffer.from('Caf=C3=A9 =\r\nnoir =C3'), { key: '1', html: false, encoding: 'quoted-printable', charset: 'utf-8' }), 'Café noir');
  assert.equal(snippetFrom(Buffer.from(Buffer.from('日本語テキスト').toString('base64').slice(0, 14)), { key: '1', html: false, encoding: 'base64', charset: 'utf-8' }), '日本語');
  const html = '<html><style>p{color:red}</style><p>Hello&nbsp;<b>there</b> &amp; welcome</p>';
  assert.equal(snippetFrom(Buffer.from(html), { key: '1', html: true, encoding: '8bit', charset: 'utf-8' }), 'Hello there & welcome');
  const long = snippetFrom(Buffer.from('word '.repeat(100)), { key: '1', html: false, encoding: '7bit', charset: 'utf-8' });
  assert.ok(long.endsWith('…') && [...long].length <= 201);
});
