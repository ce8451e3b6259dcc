import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, imapPortAllowed, isStrongSecret, loadConfig, SECRET_PLACEHOLDER } from '../../src/config.js';

const base = { REDIS_URL: 'redis://127.0.0.1:6390', MAILPUSH_SECRET: 'a-secret-of-enough-length-for-32-characters' };

test('defaults match the documented values', () => {
  const config = loadConfig(base);
  assert.equal(config.port, 8080);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.imap.idleRestartMs, 1_500_000);
  assert.equal(config.imap.socketTimeoutMs, 300_000);
  assert.equal(config.imap.connectConcurrency, 20);
  assert.equal(config.imap.allowPrivate, false);
  assert.equal(config.imap.allowInsecure, false);
  assert.equal(config.imap.tlsRejectUnauthorized, true);
  assert.equal(config.imap.defaultSecurity, 'tls');
  assert.equal(config.events.batchSize, 25);
  assert.equal(config.web.maxAccountsPerUser, 10);
  assert.equal(config.web.pairingTtlMs, 300_000);
  assert.equal(config.web.publicUrl, undefined);
  assert.equal(loadConfig({ ...base, PUBLIC_URL: 'https://Mail.Example.com/' }).web.publicUrl, 'https://mail.example.com');
  assert.ok(Object.isFrozen(config));
});

test('a bad or missing value names the variable in one line', () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ REDIS_URL: base.REDIS_URL }, 'MAILPUSH_SECRET'],
    [{ ...base, REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ ...base, PORT: 'eighty' }, 'PORT'],
    [{ ...base, IMAP_IDLE_RESTART_SECONDS: '1741' }, 'IMAP_IDLE_RESTART_SECONDS'],
    [{ ...base, IMAP_ALLOW_PRIVATE: 'maybe' }, 'IMAP_ALLOW_PRIVATE'],
    [{ ...base, PAIRING_TTL_SECONDS: '601' }, 'PAIRING_TTL_SECONDS'],
    [{ ...base, PUBLIC_URL: 'mail.example.com' }, 'PUBLIC_URL'],
    [{ ...base, PUBLIC_URL: 'https://mail.example.com/app' }, 'PUBLIC_URL'],
    [{ ...base, PUBLIC_URL: 'ftp://mail.example.com' }, 'PUBLIC_URL'],
    [{ ...base, IMAP_DEFAULT_SECURITY: 'ssl' }, 'IMAP_DEFAULT_SECURITY'],
    [{ ...base, MAILPUSH_SECRET: 'short' }, 'MAILPUSH_SECRET'],
  ];
  for (const [env, variable] of cases) {
    assert.throws(() => loadConfig(env), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.variable, variable);
      assert.ok(error.message.startsWith(variable));
      assert.ok(!error.message.includes('\n'));
      return true;
    });
  }
});

test('REDIS_CLUSTER_NODES: seed nodes with credentials and TLS, never together with REDIS_URL', () => {
  const secret = { MAILPUSH_SECRET: base.MAILPUSH_SECRET };
  const config = loadConfig({ ...secret, REDIS_CLUSTER_NODES: 'redis-a:7000, 10.0.0.2:7001,[::1]:7002', REDIS_USERNAME: 'mailpush', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true' });
  assert.equal(config.redisUrl, undefined);
  assert.deepEqual(config.redisCluster, {
    nodes: [{ host: 'redis-a', port: 7000 }, { host: '10.0.0.2', port: 7001 }, { host: '::1', port: 7002 }], username: 'mailpush', tls: true,
  });
  assert.equal(Object.getOwnPropertyDescriptor(config.redisCluster, 'password')?.value, 'pw');
  assert.equal(JSON.stringify(config).includes('"pw"'), false, 'the password is never serialised with the config');
  assert.equal(loadConfig({ ...secret, REDIS_CLUSTER_NODES: '127.0.0.1:7000' }).redisCluster?.tls, false);
  const cases: Array<[Record<string, string>, string, RegExp]> = [
    [{ ...base, REDIS_CLUSTER_NODES: '127.0.0.1:7000' }, 'REDIS_CLUSTER_NODES', /both set; give one/],
    [{ ...secret, REDIS_CLUSTER_NODES: '127.0.0.1' }, 'REDIS_CLUSTER_NODES', /host:port/],
    [{ ...secret, REDIS_CLUSTER_NODES: '127.0.0.1:70000' }, 'REDIS_CLUSTER_NODES', /host:port/],
    [{ ...secret, REDIS_CLUSTER_NODES: ' , ' }, 'REDIS_CLUSTER_NODES', /at least one/],
    [{ REDIS_CLUSTER_NODES: '127.0.0.1:7000' }, 'MAILPUSH_SECRET', /required/],
    [{ ...base, REDIS_PASSWORD: 'pw' }, 'REDIS_PASSWORD', /put it in the URL/],
    [{ REDIS_USERNAME: 'u' }, 'REDIS_USERNAME', /needs REDIS_CLUSTER_NODES/],
    [{ ...secret, REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_TLS: 'perhaps' }, 'REDIS_TLS', /true or false/],
  ];
  for (const [env, variable, text] of cases) {
    assert.throws(() => loadConfig(env), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.variable, variable);
      assert.match(error.message, text);
      assert.ok(!error.message.includes('\n'));
      return true;
    });
  }
});

test('without REDIS_URL the gateway runs embedded, with a data directory and no required secret', () => {
  const config = loadConfig({});
  assert.equal(config.redisUrl, undefined);
  assert.equal(config.dataDir, './data');
  assert.equal(config.secret, '');
  assert.equal(loadConfig({ DATA_DIR: '/var/lib/mailpush' }).dataDir, '/var/lib/mailpush');
});

test('IDLE restart may be set up to RFC 2177\'s 29 minutes', () => {
  assert.equal(loadConfig({ ...base, IMAP_IDLE_RESTART_SECONDS: '1740' }).imap.idleRestartMs, 1_740_000);
  assert.deepEqual(loadConfig({ ...base, IMAP_ALLOWED_HOSTS: ' Mail.Example.com, imap.test ' }).imap.allowedHosts, ['mail.example.com', 'imap.test']);
});

test('IMAP ports: 143 and 993 always, IMAP_ALLOWED_PORTS besides, * for any; the default port must be one of them', () => {
  assert.deepEqual(loadConfig(base).imap.allowedPorts, [143, 993]);
  assert.deepEqual(loadConfig({ ...base, IMAP_ALLOWED_PORTS: ' 1143, 10993,143' }).imap.allowedPorts, [143, 993, 1143, 10993]);
  assert.equal(loadConfig({ ...base, IMAP_ALLOWED_PORTS: '*' }).imap.allowedPorts, 'any');
  for (const bad of ['0', '65536', 'imap', '143;993', '-1']) {
    assert.throws(() => loadConfig({ ...base, IMAP_ALLOWED_PORTS: bad }), (e: unknown) => e instanceof ConfigError && e.variable === 'IMAP_ALLOWED_PORTS', bad);
  }
  assert.throws(() => loadConfig({ ...base, IMAP_DEFAULT_PORT: '1143' }), (e: unknown) => e instanceof ConfigError && e.variable === 'IMAP_DEFAULT_PORT' && /IMAP_ALLOWED_PORTS/.test(e.message));
  assert.equal(loadConfig({ ...base, IMAP_DEFAULT_PORT: '1143', IMAP_ALLOWED_PORTS: '1143' }).imap.defaultPort, 1143);
  assert.equal(imapPortAllowed(25, [143, 993]), false);
  assert.equal(imapPortAllowed(993, [143, 993]), true);
  assert.equal(imapPortAllowed(25, 'any'), true);
});

test('MAILPUSH_SECRET: at least 32 characters, 8 of them different, never the .env.example placeholder; the error says how to make one', () => {
  const example = /^MAILPUSH_SECRET=(.*)$/m.exec(readFileSync(new URL('../../../.env.example', import.meta.url), 'utf8'))?.[1];
  assert.equal(example, SECRET_PLACEHOLDER, '.env.example carries the placeholder this refuses');
  const weak = [SECRET_PLACEHOLDER, 'a'.repeat(64), 'ab'.repeat(32), '0123456'.repeat(10), 'x'.repeat(31), 'Zq8#kL2!vR5@wT9$mN3%pB6^cF1&hJ4', '🔑'.repeat(40)];
  for (const secret of weak) {
    assert.equal(isStrongSecret(secret), false, secret);
    assert.throws(() => loadConfig({ ...base, MAILPUSH_SECRET: secret }), (e: unknown) => {
      assert.ok(e instanceof ConfigError && e.variable === 'MAILPUSH_SECRET');
      assert.match(e.message, /openssl rand -base64 32/);
      assert.ok(!e.message.includes('\n'));
      return true;
    }, secret);
  }
  for (const secret of ['2Xq5m8Zr0VtK1yWcN4bHdL7sPjGfR9eA3uQ6iO0o+Ck=', 'Zq8#kL2!vR5@wT9$mN3%pB6^cF1&hJ4*', base.MAILPUSH_SECRET]) {
    assert.equal(isStrongSecret(secret), true, secret);
    assert.equal(loadConfig({ ...base, MAILPUSH_SECRET: secret }).secret, secret);
  }
  // Embedded mode without one generates its own (see embedded-secrets.ts): nothing to check at load.
  assert.equal(loadConfig({ DATA_DIR: '/nonexistent' }).secret, '');
});

test('IMAP_TLS_CA_FILE: its certificates are read at start; a missing file or one without a certificate names the variable', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mailpush-ca-config-'));
  try {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    writeFileSync(path.join(dir, 'ca.pem'), pem);
    writeFileSync(path.join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\n');
    assert.equal(loadConfig(base).imap.tlsCa, undefined);
    assert.equal(loadConfig({ ...base, IMAP_TLS_CA_FILE: path.join(dir, 'ca.pem') }).imap.tlsCa, pem);
    assert.throws(() => loadConfig({ ...base, IMAP_TLS_CA_FILE: path.join(dir, 'missing.pem') }), /^ConfigError: IMAP_TLS_CA_FILE cannot be read: ENOENT/);
    assert.throws(() => loadConfig({ ...base, IMAP_TLS_CA_FILE: path.join(dir, 'key.pem') }), /^ConfigError: IMAP_TLS_CA_FILE holds no PEM certificate/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('METRICS_PORT listens on loopback whatever HOST says, unless METRICS_HOST names another address', () => {
  assert.equal(loadConfig(base).metricsHost, '127.0.0.1');
  assert.equal(loadConfig({ ...base, HOST: '0.0.0.0', METRICS_PORT: '9464' }).metricsHost, '127.0.0.1');
  assert.equal(loadConfig({ ...base, HOST: '0.0.0.0', METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0' }).metricsHost, '0.0.0.0');
});

test('DOVECOT_PUSH_*: off by default; a short or URL-breaking secret, a bad user or host list names the variable', () => {
  const off = loadConfig(base).dovecotPush;
  assert.deepEqual(off, { user: 'dovecot', hosts: [] });
  const on = loadConfig({ ...base, DOVECOT_PUSH_SECRET: 'abcdefghijklmnop0123', DOVECOT_PUSH_HOSTS: 'IMAP.example.com, imap2.example.com', DOVECOT_PUSH_USER: 'mx-1' }).dovecotPush;
  assert.deepEqual(on, { secret: 'abcdefghijklmnop0123', user: 'mx-1', hosts: ['imap.example.com', 'imap2.example.com'] });
  assert.equal(loadConfig({ ...base, DOVECOT_PUSH_HOSTS: '*' }).dovecotPush.hosts, 'any');
  const cases: Array<[Record<string, string>, string]> = [
    [{ DOVECOT_PUSH_SECRET: 'short' }, 'DOVECOT_PUSH_SECRET'],
    [{ DOVECOT_PUSH_SECRET: 'long-enough-but-has:colon' }, 'DOVECOT_PUSH_SECRET'],
    [{ DOVECOT_PUSH_SECRET: 'long-enough-but-has@at-sign' }, 'DOVECOT_PUSH_SECRET'],
    [{ DOVECOT_PUSH_USER: 'has space' }, 'DOVECOT_PUSH_USER'],
    [{ DOVECOT_PUSH_HOSTS: 'imap.example.com,bad/host' }, 'DOVECOT_PUSH_HOSTS'],
  ];
  for (const [env, variable] of cases) {
    assert.throws(() => loadConfig({ ...base, ...env }), (e: unknown) => e instanceof ConfigError && e.variable === variable && !e.message.includes('\n'), variable);
  }
});
