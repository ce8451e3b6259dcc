// The gateway connects to IMAP hosts that users name, so a user could aim it at the inside of our
// network (SSRF). We resolve the name once, check every address it resolves to, and then connect
// to that checked address (keeping the name for TLS), so DNS cannot switch it in between.

import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

export interface AddressPolicy {
  allowPrivate: boolean;
  /** Host names (lower case) an operator trusts whatever they resolve to. */
  allowedHosts: readonly string[];
}

export class HostNotAllowedError extends Error {
  readonly code = 'host_not_allowed';
}

export class HostUnresolvableError extends Error {
  readonly code = 'host_unresolvable';
}

const nonPublic = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) {
  nonPublic.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['2001:db8::', 32], ['64:ff9b::', 96],
] as const) {
  nonPublic.addSubnet(net, bits, 'ipv6');
}

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !nonPublic.check(address, 'ipv4');
  if (family === 6) {
    // An IPv4-mapped IPv6 address reaches the IPv4 host behind it.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped?.[1]) return isPublicAddress(mapped[1]);
    return !nonPublic.check(address, 'ipv6');
  }
  return false;
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

export function isValidHost(host: string): boolean {
  return isIP(host.replace(/^\[|\]$/g, '')) !== 0 || HOSTNAME.test(host);
}

export interface ResolvedTarget {
  /** The address to connect to. */
  address: string;
  /** The name to present for TLS (SNI and certificate check); undefined for an IP literal. */
  servername: string | undefined;
}

export async function resolveTarget(host: string, policy: AddressPolicy): Promise<ResolvedTarget> {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (!isValidHost(bare)) throw new HostNotAllowedError(`"${host}" is not a valid host name`);
  const trusted = policy.allowPrivate || policy.allowedHosts.includes(bare);
  let addresses: string[];
  if (isIP(bare)) {
    addresses = [bare];
  } else {
    try {
      addresses = (await lookup(bare, { all: true, verbatim: true })).map((entry) => entry.address);
    } catch {
      throw new HostUnresolvableError(`cannot resolve "${host}"`);
    }
  }
  if (!trusted && addresses.some((address) => !isPublicAddress(address))) {
    throw new HostNotAllowedError(`"${host}" resolves to a private or reserved address`);
  }
  const address = addresses[0];
  if (!address) throw new HostUnresolvableError(`cannot resolve "${host}"`);
  return { address, servername: isIP(bare) ? undefined : bare };
}
