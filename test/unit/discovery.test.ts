// The pure parts of server discovery: which addresses have a usable domain, which MX hosts are
// Google's or Microsoft's, and what a Thunderbird config file names. The network parts (DNS,
// HTTPS, cache, limits) are tested against real servers in test/integration/discovery.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imapFromConfigXml } from '../../src/discovery/autoconfig.js';
import { domainOf } from '../../src/discovery/mail-server-discovery.js';
import { GMAIL, hostedMailFor, MICROSOFT_365, presetFor } from '../../src/discovery/presets.js';

test('an address has a domain only when it is a mail domain (two labels or more, no IP literal)', () => {
  assert.equal(domainOf('Taro@Example.CO.JP'), 'example.co.jp');
  assert.equal(domainOf('a@b@example.com'), 'example.com');
  assert.equal(domainOf('taro@例え.jp'), 'xn--r8jz45g.jp');
  assert.equal(domainOf('a@example.com.'), 'example.com');
  for (const bad of ['', 'plain', '@example.com', 'a@', 'a@localhost', 'a@1.2.3.4', 'a@[::1]', 'a@-x.com', 'a b@example.com', 'a@ex_ample.com', 'a@exa mple.com']) {
    assert.equal(domainOf(bad), undefined, bad);
  }
});

test('presets and hosted-mail MX hosts', () => {
  assert.equal(presetFor('googlemail.com'), GMAIL);
  assert.equal(presetFor('live.jp'), MICROSOFT_365);
  assert.equal(presetFor('example.com'), undefined);
  assert.equal(hostedMailFor(['ASPMX.L.GOOGLE.COM.']), GMAIL);
  assert.equal(hostedMailFor(['mx.example.net', 'alt2.aspmx.l.google.com']), GMAIL);
  assert.equal(hostedMailFor(['smtp.google.com']), GMAIL);
  assert.equal(hostedMailFor(['contoso-com.mail.protection.outlook.com']), MICROSOFT_365);
  for (const other of [['mx.notgoogle.com'], ['google.com.evil.example'], ['mail.protection.outlook.com.evil.example'], []]) {
    assert.equal(hostedMailFor(other), undefined, other.join());
  }
});

const config = (servers: string) => `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1"><emailProvider id="example.com"><domain>example.com</domain>${servers}</emailProvider></clientConfig>`;
const server = (type: string, host: string, port: number | string, socketType: string) =>
  `<incomingServer type="${type}"><hostname>${host}</hostname><port>${port}</port><socketType>${socketType}</socketType><username>%EMAILADDRESS%</username></incomingServer>`;

test('a Thunderbird config file: its IMAP server, TLS first, %EMAILDOMAIN% filled in', () => {
  assert.deepEqual(imapFromConfigXml(config(server('imap', 'imap.%EMAILDOMAIN%', 993, 'SSL')), 'example.com'), { host: 'imap.example.com', port: 993, security: 'tls' });
  assert.deepEqual(imapFromConfigXml(config(
    server('pop3', 'pop.example.com', 995, 'SSL') + server('imap', 'plain.example.com', 143, 'plain') + server('imap', 'Mail.Example.com', 143, 'STARTTLS'),
  ), 'example.com'), { host: 'mail.example.com', port: 143, security: 'starttls' });
  assert.deepEqual(imapFromConfigXml(config(server('imap', 'plain.example.com', 143, 'plain')), 'example.com'), { host: 'plain.example.com', port: 143, security: 'none' });
});

test('a config file without a usable IMAP server gives nothing', () => {
  for (const xml of [
    '', 'not xml at all <', '<html><body>404</body></html>',
    config(server('pop3', 'pop.example.com', 995, 'SSL')),
    config(server('imap', '%EMAILLOCALPART%.example.com', 993, 'SSL')),
    config(server('imap', 'imap.example.com', 'x', 'SSL')),
    config(server('imap', 'imap.example.com', 70000, 'SSL')),
    config(server('imap', 'imap.example.com', 993, 'SSLv2')),
    '<!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>' + config(server('imap', '&b;', 993, 'SSL')),
  ]) {
    assert.equal(imapFromConfigXml(xml, 'example.com'), undefined, xml.slice(0, 80));
  }
});
