// The readers behind loadConfig (config.ts): one function per variable or group of variables,
// each checking its value and throwing a ConfigError that names the variable. Kept apart from the
// Config type and the assembly in loadConfig, so each file stays readable on its own.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Config } from './config.js';
import { invalidDnsServer } from './discovery/dns-lookups.js';
import { loadOAuthSettings, ProviderConfigError, type OAuthSettings } from './oauth/providers.js';

export class ConfigError extends Error {
  constructor(readonly variable: string, problem: string) {
    super(`${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

export function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new ConfigError(name, `must be a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function boolean(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (['true', '1', 'yes', 'on'].includes(value)) return true;
  if (['false', '0', 'no', 'off'].includes(value)) return false;
  throw new ConfigError(name, `must be true or false, got "${value}"`);
}

export function oneOf<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new ConfigError(name, `must be one of ${choices.join(', ')}, got "${value}"`);
  }
  return value as T;
}

/**
 * The PEM certificates in the file named by `name`, read once at start: a missing or unreadable
 * file, or one without a certificate, stops the process instead of failing every TLS login later.
 */
export function pemCertificatesFile(env: Env, name: string): string | undefined {
  const file = raw(env, name);
  if (file === undefined) return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(name, `cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message} (${file})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(name, `holds no PEM certificate (${file})`);
  return pem;
}

/**
 * A colon-separated list of TLS key-exchange groups (OpenSSL names, e.g. "X25519:P-256"), checked
 * at start against this Node.js's OpenSSL so that a typo stops the process instead of every login.
 */
export function tlsGroups(env: Env, name: string): string | undefined {
  const value = raw(env, name)?.replace(/\s+/g, '');
  if (value === undefined || value === '') return undefined;
  if (!/^[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)*$/.test(value)) throw new ConfigError(name, `must be group names separated by ":", e.g. X25519:P-256, got "${value}"`);
  try {
    createSecureContext({ ecdhCurve: value });
  } catch {
    throw new ConfigError(name, `names a group this Node.js (OpenSSL ${process.versions.openssl}) does not know: "${value}"`);
  }
  return value;
}

export function required(env: Env, name: string, hint: string): string {
  const value = raw(env, name);
  if (value === undefined) throw new ConfigError(name, `is required: ${hint}`);
  return value;
}

export function redisUrl(env: Env): string | undefined {
  const value = raw(env, 'REDIS_URL');
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError('REDIS_URL', 'is not a URL (expected redis://host:port or rediss://…)');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError('REDIS_URL', `must start with redis:// or rediss://, got "${url.protocol}"`);
  }
  return value;
}

export interface RedisClusterConfig {
  /** Seed nodes; the client learns the rest of the cluster from them. */
  nodes: Array<{ host: string; port: number }>;
  username?: string;
  /** Non-enumerable: never serialised or logged with the config (like the OAuth client secrets). */
  password?: string;
  /** TLS to every node, as rediss:// does for REDIS_URL. @default false */
  tls: boolean;
}

/**
 * REDIS_CLUSTER_NODES (host:port seeds) with REDIS_USERNAME, REDIS_PASSWORD and REDIS_TLS, which
 * say for a cluster what a REDIS_URL says in itself; so with REDIS_URL they are refused, not ignored.
 */
export function redisCluster(env: Env, url: string | undefined): RedisClusterConfig | undefined {
  const value = raw(env, 'REDIS_CLUSTER_NODES');
  if (value === undefined) {
    for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS']) {
      if (raw(env, name) !== undefined) throw new ConfigError(name, url ? 'is for REDIS_CLUSTER_NODES; with REDIS_URL put it in the URL (rediss://user:password@host:port)' : 'needs REDIS_CLUSTER_NODES');
    }
    return undefined;
  }
  if (url) throw new ConfigError('REDIS_CLUSTER_NODES', 'and REDIS_URL are both set; give one: REDIS_URL for one Redis, REDIS_CLUSTER_NODES for a Redis Cluster');
  const nodes = value.split(',').map((entry) => entry.trim()).filter(Boolean).map((entry) => {
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) throw new ConfigError('REDIS_CLUSTER_NODES', `must be host:port seed nodes separated by commas, got "${entry}"`);
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
  if (nodes.length === 0) throw new ConfigError('REDIS_CLUSTER_NODES', 'must name at least one host:port seed node');
  const username = raw(env, 'REDIS_USERNAME');
  const password = raw(env, 'REDIS_PASSWORD');
  const cluster: RedisClusterConfig = { nodes, ...(username ? { username } : {}), tls: boolean(env, 'REDIS_TLS', false) };
  if (password) Object.defineProperty(cluster, 'password', { value: password, enumerable: false });
  return cluster;
}

/** .env.example's MAILPUSH_SECRET: a deployment that copied the file unchanged must not start. */
export const SECRET_PLACEHOLDER = 'change-me-to-a-long-random-secret';
const SECRET_MIN_LENGTH = 32;
const SECRET_MIN_DISTINCT = 8;

/**
 * A secret that carries about 32 bytes of entropy as text: at least 32 characters (what
 * `openssl rand -base64 32` prints is 44), at least 8 different ones (no "aaaa…", "abab…"), and
 * not the placeholder anyone can read in .env.example.
 */
export function isStrongSecret(secret: string): boolean {
  const chars = [...secret];
  return chars.length >= SECRET_MIN_LENGTH && new Set(chars).size >= SECRET_MIN_DISTINCT && secret !== SECRET_PLACEHOLDER;
}

/** The IMAP ports always allowed: IMAP with STARTTLS or plain, and IMAP over TLS. */
/**
 * With Redis several processes must share one secret, so it has to be given; embedded mode
 * generates one into DATA_DIR on first start (the secret stays '' here until then).
 */
export function mailpushSecret(env: Env, shared: boolean): string {
  const secret = shared
    ? required(env, 'MAILPUSH_SECRET', 'every process sharing REDIS_URL needs the same one; generate it with `openssl rand -base64 32`')
    : raw(env, 'MAILPUSH_SECRET') ?? '';
  if (secret && !isStrongSecret(secret)) {
    throw new ConfigError('MAILPUSH_SECRET', `must be at least ${SECRET_MIN_LENGTH} characters with at least ${SECRET_MIN_DISTINCT} different ones, and not the .env.example placeholder; generate one with \`openssl rand -base64 32\``);
  }
  return secret;
}

export const STANDARD_IMAP_PORTS = [143, 993] as const;

/** 143, 993 and IMAP_ALLOWED_PORTS (comma-separated); '*' allows any port, which makes registration a port scanner. */
export function allowedPorts(env: Env): readonly number[] | 'any' {
  const value = raw(env, 'IMAP_ALLOWED_PORTS');
  if (value === '*') return 'any';
  const extra = (value ?? '').split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
    if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
      throw new ConfigError('IMAP_ALLOWED_PORTS', `must be ports from 1 to 65535 separated by commas, or *, got "${p}"`);
    }
    return Number(p);
  });
  return [...new Set([...STANDARD_IMAP_PORTS, ...extra])];
}

/**
 * TRUST_PROXY: true/false, a hop count, or a comma list of proxy addresses/CIDRs. Only a proxy that
 * overwrites X-Forwarded-For may be trusted: otherwise any client picks the address it is limited by.
 */
export function trustProxy(env: Env): Config['trustProxy'] {
  const value = raw(env, 'TRUST_PROXY');
  if (value === undefined) return false;
  const lower = value.toLowerCase();
  if (['true', 'false'].includes(lower)) return lower === 'true';
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops < 1 || hops > 10) throw new ConfigError('TRUST_PROXY', `hop count must be between 1 and 10, got ${hops}`);
    return hops;
  }
  return value.split(',').map((entry) => entry.trim()).filter(Boolean).map((entry) => {
    const [address = '', prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    const maxPrefix = family === 6 ? 128 : 32;
    const prefixOk = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (!family || !prefixOk || rest.length) {
      throw new ConfigError('TRUST_PROXY', `must be true, false, a hop count, or proxy addresses/CIDRs separated by commas, got "${entry}"`);
    }
    return entry;
  });
}

/** PUBLIC_URL: an http(s) origin, without path, query or credentials; kept without a trailing slash. */
export function publicUrl(env: Env): { publicUrl?: string } {
  const value = raw(env, 'PUBLIC_URL');
  if (!value) return {};
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.username || url.password || url.search || url.hash || url.pathname !== '/') {
    throw new ConfigError('PUBLIC_URL', 'must be an http(s) origin such as https://mail.example.com (no path, query or credentials)');
  }
  return { publicUrl: url.origin };
}

/** DNS_SERVERS: comma-separated `ip`, `ip:port` or `[ipv6]:port`. */
export function dnsServers(env: Env): readonly string[] | undefined {
  const value = raw(env, 'DNS_SERVERS');
  const bad = value === undefined ? undefined : invalidDnsServer(value);
  if (bad !== undefined) throw new ConfigError('DNS_SERVERS', `must be IP addresses (with :port, IPv6 as [addr]:port) separated by commas, got "${bad}"`);
  return value?.split(',').map((s) => s.trim()).filter(Boolean);
}

export function oauthSettings(env: Env): OAuthSettings {
  try {
    return loadOAuthSettings(env, publicUrl(env).publicUrl);
  } catch (error) {
    if (error instanceof ProviderConfigError) throw new ConfigError(error.variable, error.message);
    throw error;
  }
}

/** VAPID keys are base64url: a 65-byte uncompressed P-256 point and a 32-byte scalar. */
export function vapid(env: Env): Config['push']['vapid'] {
  const publicKey = raw(env, 'VAPID_PUBLIC_KEY');
  const privateKey = raw(env, 'VAPID_PRIVATE_KEY');
  const subject = raw(env, 'VAPID_SUBJECT');
  if (!publicKey && !privateKey) return undefined; // push is off; a subject alone changes nothing
  if (!publicKey) throw new ConfigError('VAPID_PUBLIC_KEY', 'is required with VAPID_PRIVATE_KEY (generate a pair with `mailpush vapid-keys`)');
  if (!privateKey) throw new ConfigError('VAPID_PRIVATE_KEY', 'is required with VAPID_PUBLIC_KEY (generate a pair with `mailpush vapid-keys`)');
  const base64url = /^[A-Za-z0-9_-]+$/;
  const pub = base64url.test(publicKey) ? Buffer.from(publicKey, 'base64url') : Buffer.alloc(0);
  if (pub.length !== 65 || pub[0] !== 4) throw new ConfigError('VAPID_PUBLIC_KEY', 'must be a base64url uncompressed P-256 public key (65 bytes)');
  const priv = base64url.test(privateKey) ? Buffer.from(privateKey, 'base64url') : Buffer.alloc(0);
  if (priv.length !== 32) throw new ConfigError('VAPID_PRIVATE_KEY', 'must be a base64url P-256 private key (32 bytes)');
  if (!subject || !/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/.test(subject)) {
    throw new ConfigError('VAPID_SUBJECT', 'must be a mailto: address or an https: URL');
  }
  return { publicKey, privateKey, subject };
}

/** DOVECOT_PUSH_*: the hook's credentials and which IMAP hosts' accounts are opted in. */
export function dovecotPush(env: Env): Config['dovecotPush'] {
  const secret = raw(env, 'DOVECOT_PUSH_SECRET');
  // It travels in Dovecot's config and in every hook request: long enough not to be guessed.
  if (secret !== undefined && (secret.length < 16 || /[\s:@/]/.test(secret))) {
    throw new ConfigError('DOVECOT_PUSH_SECRET', 'must be at least 16 characters without spaces, ":", "@" or "/" (it goes into a URL); generate one with `openssl rand -hex 24`');
  }
  const user = raw(env, 'DOVECOT_PUSH_USER') ?? 'dovecot';
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(user)) throw new ConfigError('DOVECOT_PUSH_USER', `must be 1 to 64 letters, digits, ".", "_" or "-", got "${user}"`);
  const hostsRaw = raw(env, 'DOVECOT_PUSH_HOSTS');
  const hosts = hostsRaw === '*' ? 'any' : (hostsRaw ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  if (hosts !== 'any' && hosts.some((h) => !/^[a-z0-9.:_-]+$/.test(h))) {
    throw new ConfigError('DOVECOT_PUSH_HOSTS', `must be IMAP host names separated by commas, or *, got "${hostsRaw}"`);
  }
  return { ...(secret ? { secret } : {}), user, hosts };
}

