// GET /v1/discover against real parts: a spawned gateway asks a real DNS server on loopback
// (dnsmasq, through DNS_SERVERS) and fetches autoconfig files over HTTPS from a loopback server
// whose certificate it trusts (NODE_EXTRA_CA_CERTS), under the IMAP address policy: private
// addresses refused except the hosts IMAP_ALLOWED_HOSTS names.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configXml, startAutoconfigServer, type AutoconfigServer } from '../helpers/autoconfig-server.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { useFixtures } from '../helpers/fixtures.js';
import { api } from '../helpers/gateway.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { waitFor } from '../helpers/wait.js';
import type { Browser } from 'playwright-core';

const fixtures = useFixtures();
let dns: DnsServer;
let autoconfig: AutoconfigServer;
let base: string;
let gatewayLogs: () => string;
let browser: Browser;
/** The gateway's default IMAP server (IMAP_DEFAULT_*), the answer when nothing else is found. */
const DEFAULT_IMAP = { host: '127.0.0.1', port: 1143, security: 'none' };

const discover = (email: string, gateway = base) => api(gateway, 'GET', `/v1/discover?email=${encodeURIComponent(email)}`);

before(async () => {
  autoconfig = await fixtures.start('autoconfig server', startAutoconfigServer({
    'autoconfig.ac.test': { xml: configXml({ hostname: 'imap.%EMAILDOMAIN%', port: 993, socketType: 'SSL' }) },
    'autoconfig.private.test': { xml: configXml({ hostname: 'imap.private.test', port: 993, socketType: 'SSL' }) },
    'autoconfig.big.test': { oversized: 100 * 1024 },
    'autoconfig.slow.test': { drip: true },
  }), (s) => s.close());
  dns = await fixtures.start('dnsmasq', startDnsServer({
    mx: {
      'workspace.test': ['aspmx.l.google.com', 'alt1.aspmx.l.google.com'],
      'm365.test': ['contoso-test.mail.protection.outlook.com'],
      'cached.test': ['aspmx.l.google.com'],
      // Google's name as a suffix of something else is not Google.
      'lookalike.test': ['mx.notgoogle.com'],
    },
    srv: {
      '_imaps._tcp.srv.test': [{ target: 'imaps.srv.test', port: 993, priority: 10 }, { target: 'backup.srv.test', port: 993, priority: 20 }],
      '_imap._tcp.srv.test': [{ target: 'imap.srv.test', port: 143 }],
      // "." is RFC 6186's "no IMAP over TLS here": the plain service is the answer.
      '_imaps._tcp.starttls.test': [{ target: null }],
      '_imap._tcp.starttls.test': [{ target: 'mail.starttls.test', port: 143 }],
      '_imaps._tcp.oddport.test': [{ target: '127.0.0.1', port: 10993 }],
    },
    a: {
      'autoconfig.ac.test': '127.0.0.1',
      'autoconfig.private.test': '127.0.0.1',
      'autoconfig.big.test': '127.0.0.1',
      'autoconfig.slow.test': '127.0.0.1',
    },
  }), (d) => d.cleanup(), { logTail: (d) => d.logTail() });
  const dataDir = await fixtures.start('data dir', mkdtemp(path.join(tmpdir(), 'mailpush-data-')), (dir) => rm(dir, { recursive: true, force: true }));
  const gateway = await fixtures.mailpush('all', gatewayEnv({
    dataDir,
    imapPort: DEFAULT_IMAP.port,
    env: {
      DNS_SERVERS: dns.address,
      DISCOVERY_AUTOCONFIG_PORT: String(autoconfig.port),
      NODE_EXTRA_CA_CERTS: autoconfig.caFile,
      // Loopback is private: only the autoconfig hosts named here may be fetched from it.
      IMAP_ALLOW_PRIVATE: 'false',
      IMAP_ALLOWED_HOSTS: '127.0.0.1,autoconfig.ac.test,autoconfig.big.test,autoconfig.slow.test',
      DISCOVER_RATE_LIMIT_PER_MINUTE: '1000',
      OAUTH_GOOGLE_CLIENT_ID: 'google-client', OAUTH_GOOGLE_CLIENT_SECRET: 'google-secret-never-shown',
      OAUTH_MICROSOFT_CLIENT_ID: 'ms-client', OAUTH_MICROSOFT_CLIENT_SECRET: 'ms-secret-never-shown',
      PUBLIC_URL: 'http://localhost:8080',
    },
  }));
  base = gateway.url!;
  gatewayLogs = () => JSON.stringify(gateway.logs);
  browser = await fixtures.chromium();
});

test('known domains are answered from presets, with the OAuth provider that is on', async () => {
  const gmail = await discover('Someone@GMail.com');
  assert.equal(gmail.status, 200);
  assert.deepEqual(gmail.body, { imap: { host: 'imap.gmail.com', port: 993, security: 'tls' }, oauth: { provider: 'google' }, source: 'preset' });
  const hotmail = await discover('taro@hotmail.co.jp');
  assert.deepEqual(hotmail.body, { imap: { host: 'outlook.office365.com', port: 993, security: 'tls' }, oauth: { provider: 'microsoft' }, source: 'preset' });
  const icloud = await discover('a@icloud.com');
  assert.deepEqual(icloud.body, { imap: { host: 'imap.mail.me.com', port: 993, security: 'tls' }, oauth: null, source: 'preset' });
  assert.deepEqual((await discover('hanako@yahoo.co.jp')).body.imap, { host: 'imap.mail.yahoo.co.jp', port: 993, security: 'tls' });
  // Presets ask no DNS at all.
  assert.deepEqual(await dns.queries('gmail.com'), []);
  assert.ok(gatewayLogs().includes('/v1/discover'), 'the requests were logged');
  assert.ok(!/secret-never-shown/.test(gatewayLogs()), 'no client secret in the log');
});

test('a custom domain whose MX is Google Workspace or Microsoft 365 gets their IMAP server', async () => {
  assert.deepEqual((await discover('boss@workspace.test')).body,
    { imap: { host: 'imap.gmail.com', port: 993, security: 'tls' }, oauth: { provider: 'google' }, source: 'mx' });
  assert.deepEqual((await discover('boss@m365.test')).body,
    { imap: { host: 'outlook.office365.com', port: 993, security: 'tls' }, oauth: { provider: 'microsoft' }, source: 'mx' });
  assert.equal((await discover('boss@lookalike.test')).body.source, 'default');
});

test('RFC 6186 SRV records: IMAP over TLS first, the lowest priority, "." meaning none', async () => {
  assert.deepEqual((await discover('me@srv.test')).body, { imap: { host: 'imaps.srv.test', port: 993, security: 'tls' }, oauth: null, source: 'srv' });
  assert.deepEqual((await discover('me@starttls.test')).body, { imap: { host: 'mail.starttls.test', port: 143, security: 'starttls' }, oauth: null, source: 'srv' });
});

test('discovery only suggests: registration still applies the port policy to what it found', async () => {
  const found = await discover('me@oddport.test');
  assert.deepEqual(found.body, { imap: { host: '127.0.0.1', port: 10993, security: 'tls' }, oauth: null, source: 'srv' });
  const registered = await api(base, 'POST', '/v1/accounts', { body: { email: 'me@oddport.test', imap: { ...found.body.imap, user: 'me@oddport.test', pass: 'secret' } } });
  assert.equal(registered.status, 403);
  assert.equal(registered.body.error.code, 'imap_port_not_allowed');
});

test('autoconfig over HTTPS names the server; a private address, an oversized or a slow answer fall back to the default', async () => {
  assert.deepEqual((await discover('me@ac.test')).body, { imap: { host: 'imap.ac.test', port: 993, security: 'tls' }, oauth: null, source: 'autoconfig' });
  assert.deepEqual(autoconfig.requests, ['autoconfig.ac.test']);

  // autoconfig.private.test resolves to loopback and is not an allowed host: never fetched.
  assert.deepEqual((await discover('me@private.test')).body, { imap: DEFAULT_IMAP, oauth: null, source: 'default' });
  await waitFor(async () => (await dns.queries('autoconfig.private.test')).includes('A'), { what: 'the address lookup' });

  // 100 KiB (over the 64 KiB cap) with a valid server at its start: not taken.
  assert.deepEqual((await discover('me@big.test')).body, { imap: DEFAULT_IMAP, oauth: null, source: 'default' });

  // One byte a second, for ever: cut by the 3 s deadline (a generous bound for a loaded machine).
  const started = Date.now();
  assert.deepEqual((await discover('me@slow.test')).body, { imap: DEFAULT_IMAP, oauth: null, source: 'default' });
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 2500 && elapsed < 8000, `answered after ${elapsed} ms`);
  assert.deepEqual(autoconfig.requests, ['autoconfig.ac.test', 'autoconfig.big.test', 'autoconfig.slow.test'], 'the private host was never asked');
});

test('a domain nothing is known about gets the default server', async () => {
  assert.deepEqual((await discover('me@nothing.test')).body, { imap: DEFAULT_IMAP, oauth: null, source: 'default' });
});

test('answers are cached per domain: asking again sends no DNS query', async () => {
  assert.equal((await discover('one@cached.test')).body.source, 'mx');
  await waitFor(async () => (await dns.queries('_imap._tcp.cached.test')).length === 1, { what: 'the first lookups' });
  const first = await dns.queries('cached.test');
  assert.deepEqual(first, ['MX']);
  assert.equal((await discover('two@Cached.Test')).body.source, 'mx');
  // A sentinel domain asked afterwards: once its query is logged, any of cached.test's would be too.
  await discover('me@sentinel.test');
  await waitFor(async () => (await dns.queries('_imap._tcp.sentinel.test')).length === 1, { what: 'the sentinel lookups' });
  assert.deepEqual(await dns.queries('cached.test'), first);
  assert.equal((await dns.queries('_imaps._tcp.cached.test')).length, 1);
});

test('an address that is not one is 400 invalid_request', async () => {
  for (const email of ['no-at-sign', 'a@localhost', 'a@1.2.3.4', 'a@[127.0.0.1]', '@example.test', 'a@exa mple.test', `a@${'x'.repeat(250)}.test`]) {
    const answer = await discover(email);
    assert.equal(answer.status, 400, email);
    assert.equal(answer.body.error.code, 'invalid_request', email);
  }
  const missing = await api(base, 'GET', '/v1/discover');
  assert.equal(missing.status, 400);
  assert.equal(missing.body.error.code, 'invalid_request');
});

test('without a default server, an unknown domain is 404 discovery_failed; asking too often is 429', async () => {
  const dataDir = await fixtures.start('data dir', mkdtemp(path.join(tmpdir(), 'mailpush-data-')), (dir) => rm(dir, { recursive: true, force: true }));
  const env = gatewayEnv({ dataDir, imapPort: DEFAULT_IMAP.port, env: { DNS_SERVERS: dns.address, DISCOVER_RATE_LIMIT_PER_MINUTE: '3' } });
  delete env.IMAP_DEFAULT_HOST;
  delete env.IMAP_DEFAULT_PORT;
  const strict = (await fixtures.mailpush('all', env)).url!;
  const failed = await discover('me@nothing.test', strict);
  assert.equal(failed.status, 404);
  assert.equal(failed.body.error.code, 'discovery_failed');
  assert.equal((await discover('me@gmail.com', strict)).body.oauth, null, 'no provider is on here');
  assert.equal((await discover('me@gmail.com', strict)).status, 200);
  const limited = await fetch(`${strict}/v1/discover?email=me%40gmail.com`);
  assert.equal(limited.status, 429);
  assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'rate_limited');
  assert.ok(Number(limited.headers.get('retry-after')) > 0);
});

test('the web app fills the server settings in as soon as the address is typed, unless the person set them', async () => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(base);
  await page.locator('#view-register').waitFor();
  await waitFor(async () => (await page.inputValue('#register-host')) === DEFAULT_IMAP.host, { what: 'the defaults from GET /v1/config' });

  // Typing, then a pause: no need to leave the field.
  await page.getByLabel('Email address').pressSequentially('me@srv.test');
  await waitFor(async () => (await page.inputValue('#register-host')) === 'imaps.srv.test', { what: 'the discovered host' });
  assert.equal(await page.inputValue('#register-port'), '993');
  assert.equal(await page.inputValue('#register-security'), 'tls');
  assert.match(await page.locator('#register-discovered').innerText(), /srv\.test.*DNS records/);

  // The person sets the server by hand: a later address no longer overwrites it.
  await page.locator('#register-server summary').click();
  await page.getByLabel('IMAP server').fill('mine.example');
  const answered = page.waitForResponse((response) => response.url().includes('/v1/discover?email=me%40ac.test'));
  await page.getByLabel('Email address').fill('me@ac.test');
  await page.getByLabel('Password').focus(); // leaving the field asks at once
  assert.equal((await answered).status(), 200);
  await waitFor(async () => /imap\.ac\.test.*kept/.test(await page.locator('#register-discovered').innerText()), { what: 'the suggestion shown beside the kept settings' });
  assert.equal(await page.inputValue('#register-host'), 'mine.example');
  assert.equal(await page.inputValue('#register-port'), '993');
  await page.context().close();
});
