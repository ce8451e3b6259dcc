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
  ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['2001:db8::', 32],
] as const) {
  nonPublic.addSubnet(net, bits, 'ipv6');
}

/** The 16 bytes of an IPv6 address (a zone "%eth0" ignored), or undefined when it is none. */
export function ipv6Bytes(address: string): Uint8Array | undefined {
  let text = address.replace(/%.*$/, '');
  if (isIP(text) !== 6) return undefined;
  // A dotted IPv4 tail ("::ffff:1.2.3.4") becomes two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

const zero = (bytes: Uint8Array, from: number, to: number) => bytes.subarray(from, to).every((b) => b === 0);
const ipv4At = (bytes: Uint8Array, at: readonly number[], invert = false) =>
  at.map((i) => (invert ? bytes[i]! ^ 0xff : bytes[i]!)).join('.');
/** RFC 6052 for a NAT64 prefix of 48, 56, 64 or 96 bits: where the IPv4 bytes sit (byte 8 is never one) and where the zero suffix starts. */
const NAT64_LAYOUTS: ReadonlyArray<readonly [readonly number[], number]> = [
  [[6, 7, 9, 10], 11], [[7, 9, 10, 11], 12], [[9, 10, 11, 12], 13], [[12, 13, 14, 15], 16],
];

/**
 * The IPv4 addresses an IPv6 address reaches or names, which the IPv4 rules must judge too:
 * IPv4-compatible (::/96, so :: and ::1 too), IPv4-mapped (::ffff:0:0/96), SIIT's IPv4-translated
 * (::ffff:0:0:0/96), NAT64 (64:ff9b::/96; the local-use 64:ff9b:1::/48 at every RFC 6052 layout
 * that fits, since its prefix length is the operator's), 6to4 (2002::/16) and Teredo (2001::/32,
 * RFC 4380: the server in bits 32-63, the client inverted in bits 96-127). An undefined entry is
 * an address of such a kind whose IPv4 part cannot be told: not public.
 */
export function embeddedIpv4(bytes: Uint8Array): Array<string | undefined> {
  const word = (i: number) => (bytes[i]! << 8) | bytes[i + 1]!;
  if (zero(bytes, 0, 12)) return [ipv4At(bytes, [12, 13, 14, 15])];
  if (zero(bytes, 0, 10) && word(10) === 0xffff) return [ipv4At(bytes, [12, 13, 14, 15])];
  if (zero(bytes, 0, 8) && word(8) === 0xffff && word(10) === 0) return [ipv4At(bytes, [12, 13, 14, 15])];
  if (word(0) === 0x64 && word(2) === 0xff9b && zero(bytes, 4, 12)) return [ipv4At(bytes, [12, 13, 14, 15])];
  if (word(0) === 0x64 && word(2) === 0xff9b && word(4) === 1) {
    // A layout that reads 0.0.0.0 is not the one in use (a translator forwards nothing there).
    const fitting = NAT64_LAYOUTS.filter(([, suffix]) => bytes[8] === 0 && zero(bytes, suffix, 16)).map(([at]) => ipv4At(bytes, at)).filter((v4) => v4 !== '0.0.0.0');
    return fitting.length ? fitting : [undefined];
  }
  if (word(0) === 0x2002) return [ipv4At(bytes, [2, 3, 4, 5])];
  if (word(0) === 0x2001 && word(2) === 0) return [ipv4At(bytes, [4, 5, 6, 7]), ipv4At(bytes, [12, 13, 14, 15], true)];
  return [];
}

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !nonPublic.check(address, 'ipv4');
  const bytes = family === 6 ? ipv6Bytes(address) : undefined;
  if (!bytes) return false;
  // An IPv6 address that carries an IPv4 one reaches (for Teredo: involves) that IPv4 host.
  const embedded = embeddedIpv4(bytes);
  if (embedded.length > 0) return embedded.every((v4) => v4 !== undefined && !nonPublic.check(v4, 'ipv4'));
  return !nonPublic.check(address.replace(/%.*$/, ''), 'ipv6');
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
