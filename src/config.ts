// Configuration comes from the environment, is checked once at start-up and is then one typed,
// frozen object. A bad value stops start-up with a single line that names the variable, so an
// operator reading a container log knows exactly what to fix.

import { IMAP_SECURITIES, type ImapSecurity } from './protocol/accounts.js';
import { BUILT_IN_PROVIDER_IDS, type OAuthSettings } from './oauth/providers.js';
import {
  allowedPorts, boolean, ConfigError, dnsServers, dovecotPush, integer, mailpushSecret, oauthSettings, oneOf, pemCertificatesFile, publicUrl, tlsGroups, raw, redisCluster,
  redisUrl, trustProxy, vapid, type Env, type RedisClusterConfig,
} from './config-readers.js';

export { ConfigError, isStrongSecret, SECRET_PLACEHOLDER, STANDARD_IMAP_PORTS, type RedisClusterConfig } from './config-readers.js';

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
  /**
   * After each append, wait (Redis WAIT) until this many replicas have it, for at most timeoutMs,
   * before its pushes are queued: an append a primary acknowledged and took with it when it died
   * would otherwise have been pushed already when the worker redoes it.
   * @default replicas 1 on a Redis Cluster, 0 (no WAIT) on one Redis; timeoutMs 100
   */
  redisWait: { replicas: number; timeoutMs: number };
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
    /** IMAP_TLS_CA_FILE's PEM certificates, trusted next to Node's built-in roots (a private CA). */
    tlsCa?: string;
    /**
     * IMAP_TLS_GROUPS: the key-exchange groups offered to every IMAP server; none: Node's default,
     * led by the post-quantum hybrid X25519MLKEM768, and classical groups only to a server that
     * chose one (src/imap/tls-context.ts).
     */
    tlsGroups?: string;
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

/** Every variable the gateway reads, for documentation checks (.env.example, docker-compose). */
export const CONFIG_VARIABLES = [
  'PORT', 'HOST', 'TRUST_PROXY', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS', 'REDIS_WAIT_REPLICAS', 'REDIS_WAIT_TIMEOUT_MS', 'DATA_DIR', 'MAILPUSH_SECRET', 'ADMIN_TOKEN', 'METRICS_PORT', 'METRICS_HOST', 'LOG_LEVEL',
  'IMAP_DEFAULT_HOST', 'IMAP_DEFAULT_PORT', 'IMAP_DEFAULT_SECURITY', 'IMAP_ALLOWED_HOSTS', 'IMAP_ALLOWED_PORTS',
  'IMAP_ALLOW_PRIVATE', 'IMAP_ALLOW_INSECURE', 'IMAP_TLS_REJECT_UNAUTHORIZED', 'IMAP_TLS_CA_FILE', 'IMAP_TLS_GROUPS',
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

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const redis = redisUrl(env);
  const cluster = redisCluster(env, redis);
  const secret = mailpushSecret(env, Boolean(redis || cluster));
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
  const tlsCa = pemCertificatesFile(env, 'IMAP_TLS_CA_FILE');
  const imapTlsGroups = tlsGroups(env, 'IMAP_TLS_GROUPS');
  const config: Config = {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: raw(env, 'HOST') ?? '127.0.0.1',
    trustProxy: trustProxy(env),
    ...(redis ? { redisUrl: redis } : {}),
    ...(cluster ? { redisCluster: cluster } : {}),
    redisWait: {
      replicas: integer(env, 'REDIS_WAIT_REPLICAS', cluster ? 1 : 0, 0, 16),
      timeoutMs: integer(env, 'REDIS_WAIT_TIMEOUT_MS', 100, 1, 10_000),
    },
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
      ...(tlsCa ? { tlsCa } : {}),
      ...(imapTlsGroups ? { tlsGroups: imapTlsGroups } : {}),
      // RFC 2177: a client should re-issue IDLE at least every 29 minutes; 25 leaves a margin for
      // servers that end a session quiet for 30. Not more often: a restart costs Dovecot ~1.8 ms of
      // CPU (it syncs the mailbox again) and the worker ~0.5 ms, which at 10,000 mailboxes and 5
      // minutes was 6 % and 2 % of a core (docs/benchmarks.md). A connection's liveness does not
      // depend on it: TCP keepalives hold NAT state, and a connection silent for
      // IMAP_SOCKET_TIMEOUT_SECONDS is probed with a NOOP.
      idleRestartMs: integer(env, 'IMAP_IDLE_RESTART_SECONDS', 1500, 1, 1740) * 1000,
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
