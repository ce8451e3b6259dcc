// The one environment a test gateway runs with, in-process (gateway.ts) or as a spawned `mailpush`
// process (processes.ts): the test Redis or data dir, the test Dovecot as the default IMAP server
// (plain, on loopback, allowed), short reconnect and lease timings, and, with a push service, VAPID
// keys and the push service's certificate.

import webpush from 'web-push';

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

export interface GatewayEnvOptions {
  /** Shared storage; without it the gateway runs embedded, on `dataDir`. */
  redisUrl?: string;
  dataDir?: string;
  /** The test Dovecot's IMAP port (the default IMAP server's). */
  imapPort: number;
  /** The test push service: its certificate is trusted and private endpoints allowed. */
  push?: { caFile: string };
  /** VAPID keys; generated when `push` is given without them. */
  vapid?: VapidKeys;
  /** Anything else, overriding the defaults. */
  env?: Record<string, string>;
}

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-32-characters';

export function gatewayEnv(options: GatewayEnvOptions): Record<string, string> {
  const vapid = options.vapid ?? (options.push ? webpush.generateVAPIDKeys() : undefined);
  return {
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl, MAILPUSH_SECRET: TEST_SECRET } : {}),
    ...(options.dataDir ? { DATA_DIR: options.dataDir } : {}),
    IMAP_DEFAULT_HOST: '127.0.0.1',
    IMAP_DEFAULT_PORT: String(options.imapPort),
    // The test Dovecot listens on a high port: allowed like any other port an operator adds. A
    // test whose IMAP ports appear only while it runs (proxies) sets its own list.
    IMAP_ALLOWED_PORTS: String(options.imapPort),
    IMAP_DEFAULT_SECURITY: 'none',
    IMAP_ALLOW_PRIVATE: 'true',
    IMAP_ALLOW_INSECURE: 'true',
    IMAP_RECONNECT_MIN_MS: '100',
    IMAP_RECONNECT_MAX_SECONDS: '1',
    LEASE_TTL_MS: '3000',
    REGISTER_RATE_LIMIT_PER_MINUTE: '1000',
    ...(vapid ? { VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: 'mailto:ops@example.test' } : {}),
    ...(options.push ? { PUSH_ALLOW_PRIVATE_ENDPOINTS: 'true', NODE_EXTRA_CA_CERTS: options.push.caFile } : {}),
    // spawnMailpush waits for the info-level start-up lines
    LOG_LEVEL: 'info',
    ...options.env,
  };
}
