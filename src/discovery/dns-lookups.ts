// The DNS questions discovery asks, through one node:dns Resolver: the system's servers, or
// DNS_SERVERS (tests point it at a DNS server on loopback). Every answer that is not a usable
// record (no such name, no data, refused, timed out) is an empty list: discovery then goes on to
// its next source rather than failing.

import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface ServiceRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

export interface DnsLookups {
  mailExchangers(domain: string): Promise<string[]>;
  services(name: string): Promise<ServiceRecord[]>;
  addresses(host: string): Promise<string[]>;
}

/** Records kept from one answer; a DNS packet bounds them anyway, this bounds what we sort. */
const MAX_RECORDS = 32;

export function dnsLookups(servers?: readonly string[]): DnsLookups {
  // One query waits at most 1.5 s and is tried twice: discovery answers within a few seconds
  // even when a domain's name servers do not.
  const resolver = new Resolver({ timeout: 1500, tries: 2 });
  if (servers?.length) resolver.setServers([...servers]);
  const orEmpty = async <T>(query: Promise<T[]>): Promise<T[]> => {
    try {
      return (await query).slice(0, MAX_RECORDS);
    } catch {
      return [];
    }
  };
  return {
    async mailExchangers(domain) {
      const records = await orEmpty(resolver.resolveMx(domain));
      return records.sort((a, b) => a.priority - b.priority).map((r) => r.exchange);
    },
    services: (name) => orEmpty(resolver.resolveSrv(name)),
    async addresses(host) {
      const [v4, v6] = await Promise.all([orEmpty(resolver.resolve4(host)), orEmpty(resolver.resolve6(host))]);
      return [...v4, ...v6];
    },
  };
}

/**
 * The first entry of a DNS_SERVERS list that node:dns's setServers would not take as
 * `ip`, `ip:port` or `[ipv6]:port`, or undefined when all are fine.
 */
export function invalidDnsServer(list: string): string | undefined {
  return list.split(',').map((s) => s.trim()).filter(Boolean).find((server) => {
    const match = /^(?:\[([0-9a-f:.]+)\]|([0-9.]+)|([0-9a-f:]+))(?::(\d{1,5}))?$/i.exec(server);
    const address = match?.[1] ?? match?.[2] ?? match?.[3] ?? '';
    const port = match?.[4] === undefined ? 53 : Number(match[4]);
    // A bare IPv6 address cannot carry a port: its last group would be read as one.
    const bareV6 = match?.[3] !== undefined;
    return !match || !isIP(address) || port < 1 || port > 65535 || (bareV6 && isIP(server) !== 6);
  });
}
