// OAuth provider configuration: the built-ins switch on with both credentials, OAUTH_PROVIDERS is
// checked field by field (one line naming the field), PUBLIC_URL is required with any provider,
// and a client secret never appears when the config is serialised, logged or inspected.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { ConfigError, loadConfig } from '../../src/config.js';
import { oauthRedirectUri, publicProviders } from '../../src/oauth/providers.js';

const base = { REDIS_URL: 'redis://127.0.0.1:6390', MAILPUSH_SECRET: 'a-secret-of-enough-length-for-32-characters' };
const PUBLIC_URL = 'https://mail.example.com/';
const custom = {
  id: 'corp', name: 'Corp Mail', issuer: 'https://login.corp.example',
  clientId: 'corp-client', clientSecret: 'corp-secret-value', scopes: ['openid', 'email', 'imap'],
  imap: { host: 'IMAP.corp.example', port: 993, security: 'tls' },
};

function failsOn(env: Record<string, string>, variable: string, pattern?: RegExp): void {
  assert.throws(() => loadConfig({ ...base, ...env }), (error: unknown) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.variable, variable, error.message);
    assert.ok(error.message.startsWith(variable));
    assert.ok(!error.message.includes('\n'), 'one line');
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

test('no provider is on by default, and then PUBLIC_URL is not needed', () => {
  const config = loadConfig(base);
  assert.deepEqual(config.oauth.providers, []);
  assert.equal(config.oauth.publicUrl, undefined);
});

test('google and microsoft are on with both credentials; the tenant defaults to common', () => {
  const config = loadConfig({
    ...base, PUBLIC_URL,
    OAUTH_GOOGLE_CLIENT_ID: 'g-id', OAUTH_GOOGLE_CLIENT_SECRET: 'g-secret',
    OAUTH_MICROSOFT_CLIENT_ID: 'm-id', OAUTH_MICROSOFT_CLIENT_SECRET: 'm-secret',
  });
  assert.equal(config.oauth.publicUrl, 'https://mail.example.com');
  assert.equal(oauthRedirectUri(config.oauth.publicUrl!), 'https://mail.example.com/v1/oauth/callback');
  const [google, microsoft] = config.oauth.providers;
  assert.equal(google?.id, 'google');
  assert.deepEqual(google?.imap, { host: 'imap.gmail.com', port: 993, security: 'tls' });
  assert.ok(google?.scopes.includes('https://mail.google.com/'));
  assert.equal(google?.clientSecret, 'g-secret');
  assert.equal(microsoft?.id, 'microsoft');
  assert.equal(microsoft?.endpoints?.tokenEndpoint, 'https://login.microsoftonline.com/common/oauth2/v2.0/token');
  assert.deepEqual([...microsoft!.scopes], ['https://outlook.office.com/IMAP.AccessAsUser.All', 'offline_access', 'openid', 'email']);
  const tenant = loadConfig({ ...base, PUBLIC_URL, OAUTH_MICROSOFT_CLIENT_ID: 'm', OAUTH_MICROSOFT_CLIENT_SECRET: 's', OAUTH_MICROSOFT_TENANT: 'contoso.onmicrosoft.com' });
  assert.equal(tenant.oauth.providers[0]?.endpoints?.authorizationEndpoint, 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize');
});

test('client secrets stay out of JSON, logs and inspection, and the providers are read-only', () => {
  const config = loadConfig({ ...base, PUBLIC_URL, OAUTH_GOOGLE_CLIENT_ID: 'g-id', OAUTH_GOOGLE_CLIENT_SECRET: 'g-secret-123', OAUTH_PROVIDERS: JSON.stringify([custom]) });
  for (const text of [JSON.stringify(config), inspect(config, { depth: 10 }), JSON.stringify({ ...config.oauth.providers[1] })]) {
    assert.ok(!text.includes('g-secret-123') && !text.includes('corp-secret-value'), text);
  }
  assert.equal(config.oauth.providers[1]?.clientSecret, 'corp-secret-value');
  assert.deepEqual(publicProviders(config.oauth.providers), [{ id: 'google', name: 'Google' }, { id: 'corp', name: 'Corp Mail' }]);
  assert.ok(Object.isFrozen(config.oauth.providers) && Object.isFrozen(config.oauth.providers[1]) && Object.isFrozen(config.oauth.providers[1]?.imap));
  assert.equal(config.oauth.providers[1]?.imap.host, 'imap.corp.example');
  assert.equal(config.oauth.providers[1]?.usernameClaim, 'email');
});

test('OAUTH_PROVIDERS may be a file: @/path/to/file.json', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mailpush-providers-'));
  try {
    const file = path.join(dir, 'providers.json');
    writeFileSync(file, JSON.stringify([{ ...custom, issuer: undefined, authorizationEndpoint: 'http://localhost:9000/auth', tokenEndpoint: 'http://127.0.0.1:9000/token', mechanism: 'XOAUTH2' }]));
    const [provider] = loadConfig({ ...base, PUBLIC_URL, OAUTH_PROVIDERS: `@${file}` }).oauth.providers;
    assert.deepEqual({ ...provider!.endpoints }, { authorizationEndpoint: 'http://localhost:9000/auth', tokenEndpoint: 'http://127.0.0.1:9000/token' });
    assert.equal(provider!.mechanism, 'XOAUTH2');
    failsOn({ PUBLIC_URL, OAUTH_PROVIDERS: `@${path.join(dir, 'missing.json')}` }, 'OAUTH_PROVIDERS', /cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad provider setting stops start-up with one line naming the field', () => {
  const list = (...entries: unknown[]) => ({ PUBLIC_URL, OAUTH_PROVIDERS: JSON.stringify(entries) });
  failsOn({ OAUTH_GOOGLE_CLIENT_ID: 'g' }, 'OAUTH_GOOGLE_CLIENT_SECRET');
  failsOn({ OAUTH_MICROSOFT_CLIENT_SECRET: 's' }, 'OAUTH_MICROSOFT_CLIENT_ID');
  failsOn({ OAUTH_MICROSOFT_TENANT: 'bad tenant/..' }, 'OAUTH_MICROSOFT_TENANT');
  failsOn({ OAUTH_GOOGLE_CLIENT_ID: 'g', OAUTH_GOOGLE_CLIENT_SECRET: 's' }, 'PUBLIC_URL', /required/);
  failsOn({ OAUTH_GOOGLE_CLIENT_ID: 'g', OAUTH_GOOGLE_CLIENT_SECRET: 's', PUBLIC_URL: 'ftp://x' }, 'PUBLIC_URL');
  failsOn({ OAUTH_PROVIDERS: JSON.stringify([custom]) }, 'PUBLIC_URL');
  failsOn({ PUBLIC_URL, OAUTH_PROVIDERS: '{not json' }, 'OAUTH_PROVIDERS', /JSON/);
  failsOn({ PUBLIC_URL, OAUTH_PROVIDERS: '{}' }, 'OAUTH_PROVIDERS', /array/);
  failsOn(list({ ...custom, imap: { ...custom.imap, port: 70000 } }), 'OAUTH_PROVIDERS[0].imap.port');
  failsOn(list(custom, { ...custom, id: 'other', imap: { ...custom.imap, security: 'ssl' } }), 'OAUTH_PROVIDERS[1].imap.security');
  failsOn(list({ ...custom, id: 'Bad Id' }), 'OAUTH_PROVIDERS[0].id');
  failsOn(list({ ...custom, name: undefined }), 'OAUTH_PROVIDERS[0].name', /required/);
  failsOn(list({ ...custom, clientsecret: 'typo' }), 'OAUTH_PROVIDERS[0].clientsecret', /not a field/);
  failsOn(list({ ...custom, scopes: [] }), 'OAUTH_PROVIDERS[0].scopes');
  failsOn(list({ ...custom, scopes: ['two words'] }), 'OAUTH_PROVIDERS[0].scopes[0]');
  failsOn(list({ ...custom, mechanism: 'PLAIN' }), 'OAUTH_PROVIDERS[0].mechanism');
  failsOn(list({ ...custom, issuer: 'http://idp.example' }), 'OAUTH_PROVIDERS[0].issuer', /https/);
  failsOn(list({ ...custom, tokenEndpoint: 'https://idp.example/token' }), 'OAUTH_PROVIDERS[0].issuer', /exclude/);
  failsOn(list({ ...custom, issuer: undefined, authorizationEndpoint: 'https://idp.example/auth' }), 'OAUTH_PROVIDERS[0].tokenEndpoint', /required/);
  failsOn(list({ ...custom, imap: { ...custom.imap, host: 'not a host' } }), 'OAUTH_PROVIDERS[0].imap.host');
  failsOn(list({ ...custom, imap: { ...custom.imap, port: 1993 } }), 'OAUTH_PROVIDERS[0].imap.port', /IMAP_ALLOWED_PORTS/);
  failsOn(list(custom, { ...custom }), 'OAUTH_PROVIDERS[1].id', /already/);
  failsOn({ ...list({ ...custom, id: 'google' }), OAUTH_GOOGLE_CLIENT_ID: 'g', OAUTH_GOOGLE_CLIENT_SECRET: 's' }, 'OAUTH_PROVIDERS[0].id', /already/);
  // With its port allowed, the same entry is fine.
  assert.equal(loadConfig({ ...base, ...list({ ...custom, imap: { ...custom.imap, port: 1993 } }), IMAP_ALLOWED_PORTS: '1993' }).oauth.providers[0]?.imap.port, 1993);
});

test('DNS_SERVERS takes addresses with optional ports and names itself when wrong', () => {
  assert.deepEqual(loadConfig({ ...base, DNS_SERVERS: '127.0.0.1:5353, 10.0.0.1, [::1]:53, ::1' }).discovery.dnsServers, ['127.0.0.1:5353', '10.0.0.1', '[::1]:53', '::1']);
  assert.equal(loadConfig(base).discovery.dnsServers, undefined);
  for (const bad of ['dns.example', '127.0.0.1:99999', '1.2.3', '127.0.0.1:']) failsOn({ DNS_SERVERS: bad }, 'DNS_SERVERS');
});
