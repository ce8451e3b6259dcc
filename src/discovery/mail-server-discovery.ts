// Finds the IMAP server for an address, trying in order: known domains, MX records that point at
// Google or Microsoft, RFC 6186 SRV records (_imaps._tcp before _imap._tcp), the domain's
// Thunderbird autoconfig, and finally the gateway's default. The answer is only a suggestion:
// registration applies the host and port policy to whatever the client sends.
//
// Answers are cached per domain in this process (a bounded LRU with a TTL): a person typing an
// address asks several times, and many people share a domain. Each web process has its own cache;
// a miss costs a few DNS queries, so sharing it through Redis would not pay.

import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { isValidHost } from '../core/address-policy.js';
import type { DiscoveryResult, DiscoverySource } from '../protocol/discovery.js';
import { providerForImapHost, type OAuthProvider } from '../oauth/providers.js';
import { autoconfigFor, type AutoconfigOptions } from './autoconfig.js';
import type { DnsLookups, ServiceRecord } from './dns-lookups.js';
import { hostedMailFor, presetFor, type ImapSuggestion } from './presets.js';

interface Found {
  imap: ImapSuggestion;
  source: Exclude<DiscoverySource, 'default'>;
}

export interface MailServerDiscoveryOptions {
  lookups: DnsLookups;
  autoconfig: Omit<AutoconfigOptions, 'lookups'>;
  providers: readonly OAuthProvider[];
  /** The gateway's default IMAP server, when it has one. */
  fallback?: ImapSuggestion;
  logger?: Logger;
  /** Domains remembered. @default 5000 */
  cacheSize?: number;
  /** How long a found server is remembered. @default 1 hour */
  foundTtlMs?: number;
  /** How long "nothing found" is remembered (a domain may publish records soon). @default 10 minutes */
  notFoundTtlMs?: number;
  /** Domains looked up at once; more is refused until one finishes. @default 100 */
  maxInFlight?: number;
}

/** Too many domains are being looked up at once: the caller should retry shortly. */
export class DiscoveryBusyError extends Error {}

/** The domain of an address, lower case and in ASCII (IDNA), or undefined when it has none usable. */
export function domainOf(email: string): string | undefined {
  const at = email.lastIndexOf('@');
  if (at < 1 || at === email.length - 1) return undefined;
  const local = email.slice(0, at);
  if (/[\s<>]/.test(local)) return undefined;
  const domain = toAscii(email.slice(at + 1).replace(/\.$/, ''));
  // A mail domain: at least two labels, letters or digits and hyphens, no IP literal.
  if (!domain || !/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(domain)) return undefined;
  if (/^[\d.]+$/.test(domain)) return undefined;
  return domain;
}

function toAscii(domain: string): string | undefined {
  try {
    return new URL(`http://${domain}`).hostname;
  } catch {
    return undefined;
  }
}

/** RFC 2782 order: lowest priority first, then highest weight; a target of "." means "no service here". */
function bestService(records: readonly ServiceRecord[]): ServiceRecord | undefined {
  return records
    .filter((r) => r.name !== '' && r.name !== '.' && r.port > 0 && isValidHost(r.name))
    .sort((a, b) => a.priority - b.priority || b.weight - a.weight)[0];
}

export class MailServerDiscovery {
  private readonly cache: LRUCache<string, Found | false>;
  private readonly inFlight = new Map<string, Promise<Found | undefined>>();

  constructor(private readonly options: MailServerDiscoveryOptions) {
    this.cache = new LRUCache({ max: options.cacheSize ?? 5000, ttl: options.foundTtlMs ?? 3_600_000 });
  }

  /** The suggestion for a domain (from domainOf), or undefined when nothing is known and there is no default. */
  async discover(domain: string): Promise<DiscoveryResult | undefined> {
    const found = await this.lookUp(domain);
    const imap = found?.imap ?? this.options.fallback;
    if (!imap) return undefined;
    const provider = providerForImapHost(this.options.providers, imap.host);
    return { imap: { ...imap }, oauth: provider ? { provider: provider.id } : null, source: found?.source ?? 'default' };
  }

  private async lookUp(domain: string): Promise<Found | undefined> {
    const preset = presetFor(domain);
    if (preset) return { imap: preset, source: 'preset' };
    const cached = this.cache.get(domain);
    if (cached !== undefined) return cached || undefined;
    // Someone else's question about the same domain: share its answer instead of asking again.
    const pending = this.inFlight.get(domain);
    if (pending) return pending;
    if (this.inFlight.size >= (this.options.maxInFlight ?? 100)) throw new DiscoveryBusyError('too many lookups in progress');
    const lookup = this.fromNetwork(domain).finally(() => this.inFlight.delete(domain));
    this.inFlight.set(domain, lookup);
    const result = await lookup;
    this.cache.set(domain, result ?? false, result ? {} : { ttl: this.options.notFoundTtlMs ?? 600_000 });
    return result;
  }

  private async fromNetwork(domain: string): Promise<Found | undefined> {
    const { lookups } = this.options;
    // Asked together: the answers are then weighed in order, at the cost of a query or two unused.
    const [mx, imaps, imap] = await Promise.all([
      lookups.mailExchangers(domain),
      lookups.services(`_imaps._tcp.${domain}`),
      lookups.services(`_imap._tcp.${domain}`),
    ]);
    const hosted = hostedMailFor(mx);
    if (hosted) return { imap: hosted, source: 'mx' };
    const tlsService = bestService(imaps);
    if (tlsService) return { imap: { host: tlsService.name.toLowerCase(), port: tlsService.port, security: 'tls' }, source: 'srv' };
    const startTlsService = bestService(imap);
    if (startTlsService) return { imap: { host: startTlsService.name.toLowerCase(), port: startTlsService.port, security: 'starttls' }, source: 'srv' };
    try {
      return { imap: await autoconfigFor(domain, { ...this.options.autoconfig, lookups }), source: 'autoconfig' };
    } catch (error) {
      this.options.logger?.debug({ domain, reason: (error as Error).message }, 'no autoconfig');
      return undefined;
    }
  }
}
