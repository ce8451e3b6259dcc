// Thunderbird's autoconfig: https://autoconfig.<domain>/mail/config-v1.1.xml, published by the
// domain's owner. Whoever types an address chooses the domain, and so the host we fetch from: the
// fetch goes through the same address policy as an IMAP host (no private or reserved address
// unless IMAP_ALLOW_PRIVATE or IMAP_ALLOWED_HOSTS say so), connects to the very address that was
// checked (so DNS cannot switch it in between), is HTTPS only (no redirects followed), and gets
// one deadline for DNS, connect, TLS and the whole body, and a size cap.

import { request } from 'node:https';
import { XMLParser } from 'fast-xml-parser';
import { isPublicAddress, isValidHost, type AddressPolicy } from '../core/address-policy.js';
import type { ImapSecurity } from '../protocol/accounts.js';
import type { DnsLookups } from './dns-lookups.js';
import type { ImapSuggestion } from './presets.js';

export interface AutoconfigOptions {
  lookups: DnsLookups;
  policy: AddressPolicy;
  /** 443 but in tests, whose HTTPS server cannot bind a privileged port. */
  port: number;
  /** @default 3000 */
  deadlineMs?: number;
  /** @default 64 KiB */
  maxBytes?: number;
}

/** Why autoconfig gave nothing, for the debug log (none of it reaches the client). */
export class AutoconfigUnavailable extends Error {}

const SOCKET_TYPES: Record<string, ImapSecurity> = { SSL: 'tls', STARTTLS: 'starttls', plain: 'none' };
const PREFERENCE: readonly ImapSecurity[] = ['tls', 'starttls', 'none'];

/** The config file's body, or AutoconfigUnavailable. */
async function fetchConfig(domain: string, options: AutoconfigOptions, signal: AbortSignal): Promise<string> {
  const host = `autoconfig.${domain}`;
  const addresses = await Promise.race([
    options.lookups.addresses(host),
    new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new AutoconfigUnavailable('deadline passed resolving')), { once: true })),
  ]);
  const [address] = addresses;
  if (!address) throw new AutoconfigUnavailable(`${host} does not resolve`);
  const trusted = options.policy.allowPrivate || options.policy.allowedHosts.includes(host);
  if (!trusted && !addresses.every(isPublicAddress)) throw new AutoconfigUnavailable(`${host} resolves to a private or reserved address`);
  const maxBytes = options.maxBytes ?? 64 * 1024;
  return new Promise<string>((resolve, reject) => {
    const req = request({
      host: address,
      servername: host, // SNI and the certificate check are for the name, the connection for the checked address
      port: options.port,
      path: '/mail/config-v1.1.xml',
      headers: { host: options.port === 443 ? host : `${host}:${options.port}`, accept: 'application/xml, text/xml' },
      agent: false,
      signal,
    }, (response) => {
      const declared = Number(response.headers['content-length'] ?? 0);
      if (response.statusCode !== 200 || declared > maxBytes) {
        response.destroy();
        reject(new AutoconfigUnavailable(`answered ${response.statusCode}${declared > maxBytes ? `, ${declared} bytes` : ''}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          response.destroy();
          reject(new AutoconfigUnavailable(`answer over ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      response.on('error', (error) => reject(new AutoconfigUnavailable(error.message)));
      // Cut by the deadline half-way: settled here when no 'error' says so.
      response.on('close', () => {
        if (!response.complete) reject(new AutoconfigUnavailable(signal.aborted ? 'deadline passed' : 'answer cut short'));
      });
    });
    req.on('error', (error) => reject(new AutoconfigUnavailable(signal.aborted ? 'deadline passed' : error.message)));
    req.end();
  });
}

type Server = Record<string, unknown>;
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  // No entity expansion: nothing we read needs it, and it is how XML bombs grow.
  processEntities: false,
  isArray: (name) => name === 'emailProvider' || name === 'incomingServer',
});

/**
 * The IMAP server a config file names, TLS preferred over STARTTLS over plain. Only
 * %EMAILDOMAIN% is filled in: a host that depends on the rest of the address would make the
 * answer differ between people of one domain, and no real config does that.
 */
export function imapFromConfigXml(xml: string, domain: string): ImapSuggestion | undefined {
  let document: Record<string, any>;
  try {
    document = parser.parse(xml) as Record<string, any>;
  } catch {
    return undefined;
  }
  const providers: Server[] = document.clientConfig?.emailProvider ?? [];
  const candidates = providers.flatMap((p) => (Array.isArray(p.incomingServer) ? (p.incomingServer as Server[]) : []))
    .filter((server) => server['@type'] === 'imap')
    .map((server) => {
      const host = String(server.hostname ?? '').trim().replaceAll('%EMAILDOMAIN%', domain).toLowerCase();
      const port = Number(server.port);
      const security = SOCKET_TYPES[String(server.socketType ?? '').trim()];
      return { host, port, security };
    })
    .filter((s): s is ImapSuggestion => s.security !== undefined && isValidHost(s.host) && Number.isInteger(s.port) && s.port >= 1 && s.port <= 65535);
  return candidates.sort((a, b) => PREFERENCE.indexOf(a.security) - PREFERENCE.indexOf(b.security))[0];
}

/** The IMAP server `domain`'s autoconfig names; AutoconfigUnavailable when there is none to be had. */
export async function autoconfigFor(domain: string, options: AutoconfigOptions): Promise<ImapSuggestion> {
  const signal = AbortSignal.timeout(options.deadlineMs ?? 3000);
  const xml = await fetchConfig(domain, options, signal);
  const imap = imapFromConfigXml(xml, domain);
  if (!imap) throw new AutoconfigUnavailable('no usable IMAP server in the config');
  return imap;
}
