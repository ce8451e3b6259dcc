// Mail domains whose IMAP server is well known, so discovery needs no network for the addresses
// most people have. Only servers we are sure of are listed: a wrong guess costs the person a
// failed login, no guess only a field to fill in.

import type { ImapSecurity } from '../protocol/accounts.js';

export interface ImapSuggestion {
  host: string;
  port: number;
  security: ImapSecurity;
}

const tls = (host: string): ImapSuggestion => ({ host, port: 993, security: 'tls' });

export const GMAIL = tls('imap.gmail.com');
/** Outlook.com / Hotmail and Microsoft 365 share one IMAP endpoint. */
export const MICROSOFT_365 = tls('outlook.office365.com');

const PRESETS: ReadonlyArray<readonly [ImapSuggestion, readonly string[]]> = [
  [GMAIL, ['gmail.com', 'googlemail.com']],
  [MICROSOFT_365, [
    'outlook.com', 'hotmail.com', 'live.com', 'msn.com',
    'outlook.jp', 'hotmail.co.jp', 'live.jp',
    'hotmail.co.uk', 'live.co.uk', 'outlook.de', 'hotmail.de', 'live.de',
    'outlook.fr', 'hotmail.fr', 'live.fr', 'outlook.it', 'hotmail.it', 'live.it', 'outlook.es', 'hotmail.es',
  ]],
  [tls('imap.mail.me.com'), ['icloud.com', 'me.com', 'mac.com']],
  [tls('imap.mail.yahoo.com'), ['yahoo.com', 'ymail.com', 'rocketmail.com', 'yahoo.co.uk', 'yahoo.fr', 'yahoo.de']],
  [tls('imap.mail.yahoo.co.jp'), ['yahoo.co.jp']],
  [tls('imap.aol.com'), ['aol.com']],
  [tls('imap.gmx.net'), ['gmx.de', 'gmx.net', 'gmx.at', 'gmx.ch']],
  [tls('imap.gmx.com'), ['gmx.com']],
  [tls('imap.web.de'), ['web.de']],
  [tls('imap.fastmail.com'), ['fastmail.com']],
  [tls('imap.zoho.com'), ['zoho.com', 'zohomail.com']],
  [tls('imap.yandex.com'), ['yandex.com', 'yandex.ru']],
  [tls('imap.mail.ru'), ['mail.ru']],
  // Japanese carriers' own mail (docomo mail, au Mail, SoftBank's i.softbank.jp).
  [tls('imap.spmode.ne.jp'), ['docomo.ne.jp']],
  [tls('imap.au.com'), ['au.com', 'ezweb.ne.jp']],
  [tls('imap.softbank.jp'), ['i.softbank.jp']],
];

const BY_DOMAIN = new Map(PRESETS.flatMap(([imap, domains]) => domains.map((domain) => [domain, imap] as const)));

export function presetFor(domain: string): ImapSuggestion | undefined {
  return BY_DOMAIN.get(domain);
}

/**
 * Custom domains hosted at Google Workspace or Microsoft 365, told by where their mail goes:
 * Google's MX hosts are aspmx.l.google.com and other *.google.com / *.googlemail.com names;
 * Microsoft 365's are <tenant>.mail.protection.outlook.com.
 */
export function hostedMailFor(mxHosts: readonly string[]): ImapSuggestion | undefined {
  for (const raw of mxHosts) {
    const mx = raw.toLowerCase().replace(/\.$/, '');
    if (mx === 'google.com' || mx.endsWith('.google.com') || mx.endsWith('.googlemail.com')) return GMAIL;
    if (mx.endsWith('.mail.protection.outlook.com')) return MICROSOFT_365;
  }
  return undefined;
}
