// Configuration comes from the environment, is checked once at start-up and is then one typed,
// frozen object. A bad value stops start-up with a single line that names the variable, so an
// operator reading a container log knows exactly what to fix.

import { isIP } from 'node:net';
import { IMAP_SECURITIES, type ImapSecurity } from './protocol/accounts.js';
import { invalidDnsServer } from './discovery/dns-lookups.js';
import { BUILT_IN_PROVIDER_IDS, loadOAuthSettings, ProviderConfigError, type OAuthSettings } from './oauth/providers.js';

export type { ImapSecurity };
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  /** HTTP port of the web role. @default 8080 */
  port: number;
  /** Address the web role listens on. @default 127.0.0.1 */
  host: string;
  /**
   * Fastify's `trustProxy`: which peers may set X-Forwarded-For (the client address every per-address
   * limit counts). false (the default: the TCP peer is the client), true (any peer: only behind a
   * proxy that overwrites the header), a hop count, or addresses/CIDRs of the proxies.
   */
  trustProxy: boolean | number | string[];
  /** Shared Redis for multi-process deployments; without it (and without redisCluster), one process runs embedded. */
  redisUrl?: string;
  /** A Redis Cluster instead of one Redis (REDIS_CLUSTER_NODES); never together with redisUrl. */
  redisCluster?: RedisClusterConfig;
  /** Embedded mode's store (SQLite) and generated secrets. @default ./data */
  dataDir: string;
  /** Root secret: IMAP passwords are encrypted under a key derived from it. Embedded mode generates one. */
  secret: string;
  adminToken?: string;
  /** A separate port serving /metrics, /healthz and /readyz without a token (any role). */
  metricsPort?: number;
  /** METRICS_PORT's bind address: loopback unless METRICS_HOST says otherwise (not HOST: the port has no token). @default 127.0.0.1 */
  metricsHost: string;
  logLevel: LogLevel;
  imap: {
    defaultHost?: string;
    defaultPort?: number;
    defaultSecurity: ImapSecurity;
    allowedHosts: string[];
    /** Ports accounts may use: 143, 993 and IMAP_ALLOWED_PORTS; 'any' for IMAP_ALLOWED_PORTS=* (unsafe). */
    allowedPorts: readonly number[] | 'any';
    allowPrivate: boolean;
    allowInsecure: boolean;
    tlsRejectUnauthorized: boolean;
    idleRestartMs: number;
    socketTimeoutMs: number;
    connectConcurrency: number;
    connectTimeoutMs: number;
    pollIntervalMs: number;
    reconnectMinMs: number;
    reconnectMaxMs: number;
    authRetryMs: number;
  };
  events: {
    /** A burst larger than this becomes one mail.batch event. @default 25 */
    batchSize: number;
    retentionCount: number;
    retentionMs: number;
  };
  web: {
    bodyLimitBytes: number;
    registerRateLimitPerMinute: number;
    /** Mailboxes one user may register; one more is 403 limit_reached. @default 10 */
    maxAccountsPerUser: number;
    wsPingMs: number;
    wsAuthTimeoutMs: number;
    /** PATCH /v1/accounts/:id per client address per minute. @default 20 */
    accountUpdateRateLimitPerMinute: number;
    /** POST /v1/push/subscriptions/:id/test per client address per minute. @default 6 */
    pushTestRateLimitPerMinute: number;
    /** IMAP login checks (registration, new password) one mailbox may get per window, from all addresses. @default 10 */
    mailboxLoginLimit: number;
    /** @default 15 minutes */
    mailboxLoginWindowMs: number;
    /** Open streams one user may have on one web process; one more is refused with 4429. @default 20 */
    wsMaxPerUser: number;
    /** Sockets of one client address (IPv6: its /64) not yet authenticated; one more upgrade is 429. @default 10 */
    wsMaxUnauthenticatedPerAddress: number;
    /** How long a pairing code may be claimed. @default 5 minutes, at most 10 */
    pairingTtlMs: number;
    /** The gateway's public origin (scheme://host[:port]) for links it hands out; absent: the request's origin. */
    publicUrl?: string;
  };
  discovery: {
    /** DNS servers discovery asks (ip or ip:port); undefined: the system's. */
    dnsServers?: readonly string[];
    /** GET /v1/discover per client address per minute. @default 30 */
    rateLimitPerMinute: number;
    /** Port of https://autoconfig.<domain>/; only tests change it. @default 443 */
    autoconfigPort: number;
  };
  /** OAuth2 providers that are on (secrets non-enumerable) and PUBLIC_URL. */
  oauth: OAuthSettings;
  worker: {
    capacity: number;
    leaseTtlMs: number;
  };
  push: {
    /** Undefined when VAPID keys are not configured: Web Push is then off. */
    vapid?: { publicKey: string; privateKey: string; subject: string };
    allowPrivateEndpoints: boolean;
    ttlSeconds: number;
    maxSubscriptionsPerUser: number;
    /** Sends in flight per process. @default 50 */
    concurrency: number;
    /** Sends in flight per user, per process: what one user's slow endpoints can hold. @default 4 */
    concurrencyPerUser: number;
    /** Sends in flight (and sockets) per push-service origin, per process. @default 16 */
    concurrencyPerOrigin: number;
    /** Deadline of one attempt: DNS, connect, TLS and the whole answer. @default 10 s */
    timeoutMs: number;
    maxAttempts: number;
    /** Embedded mode: pushes that may wait; beyond, the oldest of the user with the most is dropped. @default 10000 */
    queueLimit: number;
    /** Keep-alive agents (one per push-service origin) kept at most. @default 64 */
    maxOriginAgents: number;
    /** A push-service origin unused this long has its keep-alive connections closed. @default 60 s */
    originIdleMs: number;
  };
  /** Server-assisted push: Dovecot's push_notification plugin (OX driver) tells us of each delivery. */
  dovecotPush: {
    /** Password Dovecot sends to POST /v1/hooks/dovecot; the hook is off (404) without it. */
    secret?: string;
    /** User name Dovecot sends with the secret (HTTP Basic). @default dovecot */
    user: string;
    /**
     * IMAP hosts (lowercase) whose accounts workers opt in to Dovecot's notifications (METADATA
     * http-notify); 'any' for DOVECOT_PUSH_HOSTS=*. Empty: no account is opted in.
     */
    hosts: readonly string[] | 'any';
  };
}

export class ConfigError extends Error {
  constructor(readonly variable: string, problem: string) {
    super(`${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new ConfigError(name, `must be a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (['true', '1', 'yes', 'on'].includes(value)) return true;
  if (['false', '0', 'no', 'off'].includes(value)) return false;
  throw new ConfigError(name, `must be true or false, got "${value}"`);
}

function oneOf<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new ConfigError(name, `must be one of ${choices.join(', ')}, got "${value}"`);
  }
  return value as T;
}

function required(env: Env, name: string, hint: string): string {
  const value = raw(env, name);
  if (value === undefined) throw new ConfigError(name, `is required: ${hint}`);
  return value;
}

function redisUrl(env: Env): string | undefined {
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
function redisCluster(env: Env, url: string | undefined): RedisClusterConfig | undefined {
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
export const STANDARD_IMAP_PORTS = [143, 993] as const;

/** 143, 993 and IMAP_ALLOWED_PORTS (comma-separated); '*' allows any port, which makes registration a port scanner. */
function allowedPorts(env: Env): readonly number[] | 'any' {
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
function trustProxy(env: Env): Config['trustProxy'] {
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

/** Every variable the gateway reads, for documentation checks (.env.example, docker-compose). */
export const CONFIG_VARIABLES = [
  'PORT', 'HOST', 'TRUST_PROXY', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS', 'DATA_DIR', 'MAILPUSH_SECRET', 'ADMIN_TOKEN', 'METRICS_PORT', 'METRICS_HOST', 'LOG_LEVEL',
  'IMAP_DEFAULT_HOST', 'IMAP_DEFAULT_PORT', 'IMAP_DEFAULT_SECURITY', 'IMAP_ALLOWED_HOSTS', 'IMAP_ALLOWED_PORTS',
  'IMAP_ALLOW_PRIVATE', 'IMAP_ALLOW_INSECURE', 'IMAP_TLS_REJECT_UNAUTHORIZED',
  'IMAP_IDLE_RESTART_SECONDS', 'IMAP_SOCKET_TIMEOUT_SECONDS', 'IMAP_CONNECT_CONCURRENCY',
  'IMAP_CONNECT_TIMEOUT_SECONDS', 'IMAP_POLL_INTERVAL_SECONDS', 'IMAP_RECONNECT_MIN_MS',
  'IMAP_RECONNECT_MAX_SECONDS', 'IMAP_AUTH_RETRY_SECONDS',
  'EVENT_BATCH_SIZE', 'EVENT_RETENTION_COUNT', 'EVENT_RETENTION_DAYS',
  'BODY_LIMIT_BYTES', 'REGISTER_RATE_LIMIT_PER_MINUTE', 'MAX_ACCOUNTS_PER_USER', 'WS_PING_SECONDS', 'WS_AUTH_TIMEOUT_SECONDS',
  'ACCOUNT_UPDATE_RATE_LIMIT_PER_MINUTE', 'PUSH_TEST_RATE_LIMIT_PER_MINUTE', 'MAILBOX_LOGIN_LIMIT', 'MAILBOX_LOGIN_WINDOW_SECONDS',
  'WS_MAX_PER_USER', 'WS_MAX_UNAUTHENTICATED_PER_ADDRESS',
  'PAIRING_TTL_SECONDS', 'PUBLIC_URL',
  'WORKER_CAPACITY', 'LEASE_TTL_MS',
  'DNS_SERVERS', 'DISCOVER_RATE_LIMIT_PER_MINUTE', 'DISCOVERY_AUTOCONFIG_PORT',
  'OAUTH_GOOGLE_CLIENT_ID', 'OAUTH_GOOGLE_CLIENT_SECRET', 'OAUTH_MICROSOFT_CLIENT_ID',
  'OAUTH_MICROSOFT_CLIENT_SECRET', 'OAUTH_MICROSOFT_TENANT', 'OAUTH_PROVIDERS',
  'VAPID_PUBLIC_KEY', 'VAPID_PRIVATE_KEY', 'VAPID_SUBJECT', 'PUSH_ALLOW_PRIVATE_ENDPOINTS', 'PUSH_TTL_SECONDS',
  'PUSH_MAX_SUBSCRIPTIONS', 'PUSH_CONCURRENCY', 'PUSH_CONCURRENCY_PER_USER', 'PUSH_CONCURRENCY_PER_ORIGIN',
  'PUSH_TIMEOUT_SECONDS', 'PUSH_MAX_ATTEMPTS', 'PUSH_QUEUE_LIMIT', 'PUSH_MAX_ORIGINS', 'PUSH_ORIGIN_IDLE_SECONDS',
  'DOVECOT_PUSH_SECRET', 'DOVECOT_PUSH_USER', 'DOVECOT_PUSH_HOSTS',
] as const;

/** PUBLIC_URL: an http(s) origin, without path, query or credentials; kept without a trailing slash. */
function publicUrl(env: Env): { publicUrl?: string } {
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
function dnsServers(env: Env): readonly string[] | undefined {
  const value = raw(env, 'DNS_SERVERS');
  const bad = value === undefined ? undefined : invalidDnsServer(value);
  if (bad !== undefined) throw new ConfigError('DNS_SERVERS', `must be IP addresses (with :port, IPv6 as [addr]:port) separated by commas, got "${bad}"`);
  return value?.split(',').map((s) => s.trim()).filter(Boolean);
}

function oauthSettings(env: Env): OAuthSettings {
  try {
    return loadOAuthSettings(env, publicUrl(env).publicUrl);
  } catch (error) {
    if (error instanceof ProviderConfigError) throw new ConfigError(error.variable, error.message);
    throw error;
  }
}

/** VAPID keys are base64url: a 65-byte uncompressed P-256 point and a 32-byte scalar. */
function vapid(env: Env): Config['push']['vapid'] {
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
function dovecotPush(env: Env): Config['dovecotPush'] {
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

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const redis = redisUrl(env);
  const cluster = redisCluster(env, redis);
  // With Redis several processes must share one secret, so it has to be given; embedded mode
  // generates one into DATA_DIR on first start (secret stays '' here until then).
  const secret = redis || cluster
    ? required(env, 'MAILPUSH_SECRET', 'every process sharing REDIS_URL needs the same one; generate it with `openssl rand -base64 32`')
    : raw(env, 'MAILPUSH_SECRET') ?? '';
  if (secret && !isStrongSecret(secret)) {
    throw new ConfigError('MAILPUSH_SECRET', `must be at least ${SECRET_MIN_LENGTH} characters with at least ${SECRET_MIN_DISTINCT} different ones, and not the .env.example placeholder; generate one with \`openssl rand -base64 32\``);
  }
  const adminToken = raw(env, 'ADMIN_TOKEN');
  if (adminToken !== undefined && adminToken.length < 16) {
    throw new ConfigError('ADMIN_TOKEN', 'must be at least 16 characters long');
  }
  const defaultSecurity = oneOf(env, 'IMAP_DEFAULT_SECURITY', IMAP_SECURITIES, 'tls');
  const defaultPortRaw = raw(env, 'IMAP_DEFAULT_PORT');
  const defaultHost = raw(env, 'IMAP_DEFAULT_HOST');
  const vapidKeys = vapid(env);
  const metricsPort = raw(env, 'METRICS_PORT') === undefined ? undefined : integer(env, 'METRICS_PORT', 0, 0, 65535);
  const socketTimeoutMs = integer(env, 'IMAP_SOCKET_TIMEOUT_SECONDS', 300, 2, 3600) * 1000;
  const resolvers = dnsServers(env);
  const config: Config = {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: raw(env, 'HOST') ?? '127.0.0.1',
    trustProxy: trustProxy(env),
    ...(redis ? { redisUrl: redis } : {}),
    ...(cluster ? { redisCluster: cluster } : {}),
    dataDir: raw(env, 'DATA_DIR') ?? './data',
    secret,
    ...(adminToken ? { adminToken } : {}),
    ...(metricsPort !== undefined ? { metricsPort } : {}),
    metricsHost: raw(env, 'METRICS_HOST') ?? '127.0.0.1',
    logLevel: oneOf(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    imap: {
      ...(defaultHost ? { defaultHost } : {}),
      ...(defaultPortRaw ? { defaultPort: integer(env, 'IMAP_DEFAULT_PORT', 993, 1, 65535) } : {}),
      defaultSecurity,
      allowedHosts: (raw(env, 'IMAP_ALLOWED_HOSTS') ?? '')
        .split(',').map((h) => h.trim().toLowerCase()).filter(Boolean),
      allowedPorts: allowedPorts(env),
      allowPrivate: boolean(env, 'IMAP_ALLOW_PRIVATE', false),
      allowInsecure: boolean(env, 'IMAP_ALLOW_INSECURE', false),
      tlsRejectUnauthorized: boolean(env, 'IMAP_TLS_REJECT_UNAUTHORIZED', true),
      // RFC 2177: a client should re-issue IDLE at least every 29 minutes.
      idleRestartMs: integer(env, 'IMAP_IDLE_RESTART_SECONDS', 300, 1, 1740) * 1000,
      socketTimeoutMs,
      connectConcurrency: integer(env, 'IMAP_CONNECT_CONCURRENCY', 20, 1, 10000),
      connectTimeoutMs: integer(env, 'IMAP_CONNECT_TIMEOUT_SECONDS', 15, 1, 120) * 1000,
      pollIntervalMs: integer(env, 'IMAP_POLL_INTERVAL_SECONDS', 60, 1, 3600) * 1000,
      reconnectMinMs: integer(env, 'IMAP_RECONNECT_MIN_MS', 1000, 10, 60000),
      reconnectMaxMs: integer(env, 'IMAP_RECONNECT_MAX_SECONDS', 300, 1, 3600) * 1000,
      authRetryMs: integer(env, 'IMAP_AUTH_RETRY_SECONDS', 3600, 1, 86400 * 7) * 1000,
    },
    events: {
      batchSize: integer(env, 'EVENT_BATCH_SIZE', 25, 1, 10000),
      retentionCount: integer(env, 'EVENT_RETENTION_COUNT', 1000, 10, 1000000),
      retentionMs: integer(env, 'EVENT_RETENTION_DAYS', 7, 1, 365) * 86400 * 1000,
    },
    web: {
      bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 64 * 1024, 1024, 10 * 1024 * 1024),
      registerRateLimitPerMinute: integer(env, 'REGISTER_RATE_LIMIT_PER_MINUTE', 20, 1, 1000000),
      maxAccountsPerUser: integer(env, 'MAX_ACCOUNTS_PER_USER', 10, 1, 10000),
      wsPingMs: integer(env, 'WS_PING_SECONDS', 30, 1, 1740) * 1000,
      wsAuthTimeoutMs: integer(env, 'WS_AUTH_TIMEOUT_SECONDS', 10, 1, 120) * 1000,
      accountUpdateRateLimitPerMinute: integer(env, 'ACCOUNT_UPDATE_RATE_LIMIT_PER_MINUTE', 20, 1, 1000000),
      pushTestRateLimitPerMinute: integer(env, 'PUSH_TEST_RATE_LIMIT_PER_MINUTE', 6, 1, 1000000),
      mailboxLoginLimit: integer(env, 'MAILBOX_LOGIN_LIMIT', 10, 1, 1000000),
      mailboxLoginWindowMs: integer(env, 'MAILBOX_LOGIN_WINDOW_SECONDS', 900, 1, 86400) * 1000,
      wsMaxPerUser: integer(env, 'WS_MAX_PER_USER', 20, 1, 100000),
      wsMaxUnauthenticatedPerAddress: integer(env, 'WS_MAX_UNAUTHENTICATED_PER_ADDRESS', 10, 1, 100000),
      pairingTtlMs: integer(env, 'PAIRING_TTL_SECONDS', 300, 1, 600) * 1000,
      ...publicUrl(env),
    },
    discovery: {
      ...(resolvers ? { dnsServers: resolvers } : {}),
      rateLimitPerMinute: integer(env, 'DISCOVER_RATE_LIMIT_PER_MINUTE', 30, 1, 1000000),
      autoconfigPort: integer(env, 'DISCOVERY_AUTOCONFIG_PORT', 443, 1, 65535),
    },
    oauth: oauthSettings(env),
    worker: {
      capacity: integer(env, 'WORKER_CAPACITY', 10000, 1, 1000000),
      leaseTtlMs: integer(env, 'LEASE_TTL_MS', 15000, 1000, 600000),
    },
    push: {
      ...(vapidKeys ? { vapid: vapidKeys } : {}),
      allowPrivateEndpoints: boolean(env, 'PUSH_ALLOW_PRIVATE_ENDPOINTS', false),
      ttlSeconds: integer(env, 'PUSH_TTL_SECONDS', 86400, 0, 28 * 86400),
      maxSubscriptionsPerUser: integer(env, 'PUSH_MAX_SUBSCRIPTIONS', 20, 1, 1000),
      concurrency: integer(env, 'PUSH_CONCURRENCY', 50, 1, 1000),
      concurrencyPerUser: integer(env, 'PUSH_CONCURRENCY_PER_USER', 4, 1, 1000),
      concurrencyPerOrigin: integer(env, 'PUSH_CONCURRENCY_PER_ORIGIN', 16, 1, 1000),
      timeoutMs: integer(env, 'PUSH_TIMEOUT_SECONDS', 10, 1, 120) * 1000,
      maxAttempts: integer(env, 'PUSH_MAX_ATTEMPTS', 6, 1, 50),
      queueLimit: integer(env, 'PUSH_QUEUE_LIMIT', 10000, 1, 10_000_000),
      maxOriginAgents: integer(env, 'PUSH_MAX_ORIGINS', 64, 1, 100000),
      originIdleMs: integer(env, 'PUSH_ORIGIN_IDLE_SECONDS', 60, 1, 3600) * 1000,
    },
    dovecotPush: dovecotPush(env),
  };
  const { defaultPort } = config.imap;
  if (defaultPort !== undefined && !imapPortAllowed(defaultPort, config.imap.allowedPorts)) {
    throw new ConfigError('IMAP_DEFAULT_PORT', `${defaultPort} is not an allowed port: add it to IMAP_ALLOWED_PORTS`);
  }
  // Built-ins come first and use 993, always allowed; so a refused port is an OAUTH_PROVIDERS entry's.
  const builtIns = config.oauth.providers.filter((p) => BUILT_IN_PROVIDER_IDS.includes(p.id)).length;
  config.oauth.providers.forEach((p, i) => {
    if (!imapPortAllowed(p.imap.port, config.imap.allowedPorts)) {
      throw new ConfigError(`OAUTH_PROVIDERS[${i - builtIns}].imap.port`, `${p.imap.port} is not an allowed port: add it to IMAP_ALLOWED_PORTS`);
    }
  });
  return Object.freeze(config);
}

export function imapPortAllowed(port: number, allowed: readonly number[] | 'any'): boolean {
  return allowed === 'any' || allowed.includes(port);
}

/** True when accounts on this IMAP host are to be opted in to Dovecot's push notifications. */
export function dovecotPushHost(host: string, hosts: Config['dovecotPush']['hosts']): boolean {
  return hosts === 'any' || hosts.includes(host.toLowerCase());
}
