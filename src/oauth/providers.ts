// The OAuth2 providers a mailbox can be signed in with: the built-in `google` and `microsoft`
// (each on when its client id and secret are set) and any others an operator lists in
// OAUTH_PROVIDERS. Checked once at start-up like every other setting: a bad entry stops start-up
// with one line naming the field (OAUTH_PROVIDERS[1].imap.port …).
//
// A provider's client secret is a non-enumerable property, so the config object can be logged,
// serialised or spread into a response without carrying it; code that needs it reads it by name.

import { readFileSync } from 'node:fs';
import { Type, type Static } from 'typebox';
import Value from 'typebox/value';
import { isValidHost } from '../core/address-policy.js';
import { IMAP_SECURITIES, type ImapSecurity } from '../protocol/accounts.js';
import { OAUTH_MECHANISMS, type OAuthMechanism } from '../protocol/discovery.js';

export interface OAuthEndpoints {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  userinfoEndpoint?: string;
}

export interface OAuthProvider {
  /** What the API and the web app call it: `google`, `microsoft`, or the operator's id. */
  readonly id: string;
  /** Shown on the "Sign in with …" button. */
  readonly name: string;
  /** With an issuer, endpoints come from its OpenID discovery document; otherwise they are given. */
  readonly issuer?: string;
  readonly endpoints?: Readonly<OAuthEndpoints>;
  readonly clientId: string;
  /** Non-enumerable: never serialised or logged with the config. Absent for a public client. */
  readonly clientSecret?: string;
  readonly scopes: readonly string[];
  /** The IMAP server its tokens open; discovery offers the provider for mailboxes on this host. */
  readonly imap: Readonly<{ host: string; port: number; security: ImapSecurity }>;
  /** The ID token or userinfo claim that is the IMAP user name. @default "email" */
  readonly usernameClaim: string;
  /** SASL mechanism; undefined: what the server advertises, OAUTHBEARER first. */
  readonly mechanism?: OAuthMechanism;
}

export interface OAuthSettings {
  /** The gateway's external base URL, without a trailing slash; required when any provider is on. */
  publicUrl?: string;
  providers: readonly OAuthProvider[];
}

/** The redirect URI registered at every provider. */
export function oauthRedirectUri(publicUrl: string): string {
  return `${publicUrl}/v1/oauth/callback`;
}

/** Providers the gateway knows by itself; they are listed first, before OAUTH_PROVIDERS'. */
export const BUILT_IN_PROVIDER_IDS: readonly string[] = ['google', 'microsoft'];

/** A problem with one variable (or one field of OAUTH_PROVIDERS); config.ts turns it into a ConfigError. */
export class ProviderConfigError extends Error {
  constructor(readonly variable: string, problem: string) {
    super(problem);
    this.name = 'ProviderConfigError';
  }
}

const ENDPOINT = Type.String({ minLength: 8, maxLength: 2048 });
const ProviderEntry = Type.Object({
  id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$' }),
  name: Type.String({ minLength: 1, maxLength: 64 }),
  issuer: Type.Optional(ENDPOINT),
  authorizationEndpoint: Type.Optional(ENDPOINT),
  tokenEndpoint: Type.Optional(ENDPOINT),
  userinfoEndpoint: Type.Optional(ENDPOINT),
  clientId: Type.String({ minLength: 1, maxLength: 512 }),
  clientSecret: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  scopes: Type.Array(Type.String({ minLength: 1, maxLength: 512, pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$' }), { minItems: 1, maxItems: 32 }),
  imap: Type.Object({
    host: Type.String({ minLength: 1, maxLength: 253 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    security: Type.Union(IMAP_SECURITIES.map((s) => Type.Literal(s))),
  }, { additionalProperties: false }),
  usernameClaim: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  mechanism: Type.Optional(Type.Union(OAUTH_MECHANISMS.map((m) => Type.Literal(m)))),
}, { additionalProperties: false });
type ProviderEntry = Static<typeof ProviderEntry>;

/** `/1/imap/port` → `OAUTH_PROVIDERS[1].imap.port` */
function fieldName(instancePath: string): string {
  return instancePath.split('/').slice(1).reduce((name, part) => (/^\d+$/.test(part) ? `${name}[${part}]` : `${name}.${part}`), 'OAUTH_PROVIDERS');
}

/** The first schema error of `entries`, as the field it is about and what is wrong with it. */
function firstSchemaError(entries: unknown): ProviderConfigError | undefined {
  const schema = Type.Array(ProviderEntry, { maxItems: 32 });
  const [error] = Value.Errors(schema, entries);
  if (!error) return undefined;
  const params = error.params as { requiredProperties?: string[]; additionalProperties?: string[] };
  if (error.keyword === 'required' && params.requiredProperties?.length) {
    return new ProviderConfigError(fieldName(`${error.instancePath}/${params.requiredProperties[0]}`), 'is required');
  }
  if (error.keyword === 'boolean' || error.keyword === 'additionalProperties') {
    // A misspelt field would otherwise be dropped silently (a `clientsecret` that never applies).
    return new ProviderConfigError(fieldName(error.instancePath), 'is not a field a provider has');
  }
  return new ProviderConfigError(fieldName(error.instancePath), error.message);
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** https, or http on loopback only (a provider on the same machine, as in tests); no fragment. */
function endpointProblem(value: string, { query }: { query: boolean }): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `is not a URL, got "${value}"`;
  }
  const httpsOrLoopback = url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
  if (!httpsOrLoopback) return `must be an https URL (http only on localhost), got "${value}"`;
  if (url.hash || url.username || url.password || (!query && url.search)) return `must be a plain URL without credentials${query ? '' : ', query'} or fragment, got "${value}"`;
  return undefined;
}

function checkEntry(entry: ProviderEntry, index: number): OAuthProvider {
  const at = (field: string) => `OAUTH_PROVIDERS[${index}].${field}`;
  const endpointFields = ['authorizationEndpoint', 'tokenEndpoint', 'userinfoEndpoint'] as const;
  for (const field of ['issuer', ...endpointFields] as const) {
    const value = entry[field];
    const problem = value === undefined ? undefined : endpointProblem(value, { query: field !== 'issuer' });
    if (problem) throw new ProviderConfigError(at(field), problem);
  }
  if (entry.issuer && (entry.authorizationEndpoint || entry.tokenEndpoint)) {
    throw new ProviderConfigError(at('issuer'), 'and authorizationEndpoint/tokenEndpoint exclude each other: give an issuer (OpenID discovery) or the endpoints');
  }
  if (!entry.issuer) {
    if (!entry.authorizationEndpoint) throw new ProviderConfigError(at('authorizationEndpoint'), 'is required without an issuer');
    if (!entry.tokenEndpoint) throw new ProviderConfigError(at('tokenEndpoint'), 'is required without an issuer');
  }
  if (!isValidHost(entry.imap.host)) throw new ProviderConfigError(at('imap.host'), `is not a valid host name, got "${entry.imap.host}"`);
  return provider({
    id: entry.id,
    name: entry.name,
    ...(entry.issuer ? { issuer: entry.issuer } : {}),
    ...(entry.authorizationEndpoint && entry.tokenEndpoint ? {
      endpoints: {
        authorizationEndpoint: entry.authorizationEndpoint,
        tokenEndpoint: entry.tokenEndpoint,
        ...(entry.userinfoEndpoint ? { userinfoEndpoint: entry.userinfoEndpoint } : {}),
      },
    } : {}),
    clientId: entry.clientId,
    scopes: entry.scopes,
    imap: { host: entry.imap.host.toLowerCase(), port: entry.imap.port, security: entry.imap.security },
    usernameClaim: entry.usernameClaim ?? 'email',
    ...(entry.mechanism ? { mechanism: entry.mechanism } : {}),
  }, entry.clientSecret);
}

/** Freezes a provider, its secret kept off every enumeration (JSON, logs, spreads). */
function provider(fields: Omit<OAuthProvider, 'clientSecret'>, clientSecret: string | undefined): OAuthProvider {
  const frozen = { ...fields, scopes: Object.freeze([...fields.scopes]), imap: Object.freeze({ ...fields.imap }) };
  if (fields.endpoints) frozen.endpoints = Object.freeze({ ...fields.endpoints });
  if (clientSecret !== undefined) Object.defineProperty(frozen, 'clientSecret', { value: clientSecret, enumerable: false });
  return Object.freeze(frozen);
}

type Env = Record<string, string | undefined>;
const value = (env: Env, name: string) => {
  const v = env[name]?.trim();
  return v ? v : undefined;
};

/** Both of a built-in's credentials, or neither (then it is off). */
function credentials(env: Env, prefix: string): { clientId: string; clientSecret: string } | undefined {
  const clientId = value(env, `${prefix}_CLIENT_ID`);
  const clientSecret = value(env, `${prefix}_CLIENT_SECRET`);
  if (!clientId && !clientSecret) return undefined;
  if (!clientId) throw new ProviderConfigError(`${prefix}_CLIENT_ID`, `is required with ${prefix}_CLIENT_SECRET`);
  if (!clientSecret) throw new ProviderConfigError(`${prefix}_CLIENT_SECRET`, `is required with ${prefix}_CLIENT_ID`);
  return { clientId, clientSecret };
}

/** Google: OpenID Connect; `openid email` so the ID token names the mailbox. */
function google(env: Env): OAuthProvider | undefined {
  const creds = credentials(env, 'OAUTH_GOOGLE');
  if (!creds) return undefined;
  return provider({
    id: 'google',
    name: 'Google',
    issuer: 'https://accounts.google.com',
    clientId: creds.clientId,
    scopes: ['openid', 'email', 'https://mail.google.com/'],
    imap: { host: 'imap.gmail.com', port: 993, security: 'tls' },
    usernameClaim: 'email',
  }, creds.clientSecret);
}

/**
 * Microsoft identity platform v2. Endpoints are given rather than discovered: for the multi-tenant
 * `common`, `organizations` and `consumers` the discovery document's issuer is a template that no
 * token matches, so an OpenID client would refuse it.
 */
function microsoft(env: Env): OAuthProvider | undefined {
  const creds = credentials(env, 'OAUTH_MICROSOFT');
  const tenant = value(env, 'OAUTH_MICROSOFT_TENANT') ?? 'common';
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$/.test(tenant)) {
    throw new ProviderConfigError('OAUTH_MICROSOFT_TENANT', `must be common, organizations, consumers, a tenant id or a tenant domain, got "${tenant}"`);
  }
  if (!creds) return undefined;
  const base = `https://login.microsoftonline.com/${tenant}/oauth2/v2.0`;
  return provider({
    id: 'microsoft',
    name: 'Microsoft',
    endpoints: { authorizationEndpoint: `${base}/authorize`, tokenEndpoint: `${base}/token` },
    clientId: creds.clientId,
    scopes: ['https://outlook.office.com/IMAP.AccessAsUser.All', 'offline_access', 'openid', 'email'],
    imap: { host: 'outlook.office365.com', port: 993, security: 'tls' },
    // Work and school accounts may carry no `email` claim; preferred_username is their sign-in name.
    usernameClaim: 'preferred_username',
  }, creds.clientSecret);
}

/** OAUTH_PROVIDERS: a JSON array, or `@/path/to/file.json`. */
function listed(env: Env): OAuthProvider[] {
  const text = value(env, 'OAUTH_PROVIDERS');
  if (text === undefined) return [];
  let json = text;
  if (text.startsWith('@')) {
    try {
      json = readFileSync(text.slice(1), 'utf8');
    } catch (error) {
      throw new ProviderConfigError('OAUTH_PROVIDERS', `cannot read ${text.slice(1)}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  let entries: unknown;
  try {
    entries = JSON.parse(json);
  } catch {
    throw new ProviderConfigError('OAUTH_PROVIDERS', 'is not valid JSON (expected an array of providers, or @/path/to/file.json)');
  }
  if (!Array.isArray(entries)) throw new ProviderConfigError('OAUTH_PROVIDERS', 'must be a JSON array of providers');
  const problem = firstSchemaError(entries);
  if (problem) throw problem;
  return (entries as ProviderEntry[]).map(checkEntry);
}

/**
 * Every provider that is on, and PUBLIC_URL (required as soon as one is), as config.ts parsed it:
 * one variable, one reading, shared with the pairing links.
 */
export function loadOAuthSettings(env: Env, publicUrl: string | undefined): OAuthSettings {
  const builtIn = [google(env), microsoft(env)].filter((p): p is OAuthProvider => p !== undefined);
  const others = listed(env);
  const seen = new Set<string>(builtIn.map((p) => p.id));
  others.forEach((p, index) => {
    if (seen.has(p.id)) {
      throw new ProviderConfigError(`OAUTH_PROVIDERS[${index}].id`, `"${p.id}" is already a provider (ids must be unique, google and microsoft included when on)`);
    }
    seen.add(p.id);
  });
  const providers = Object.freeze([...builtIn, ...others]);
  const url = publicUrl;
  if (providers.length > 0 && url === undefined) {
    throw new ProviderConfigError('PUBLIC_URL', `is required with OAuth providers (${providers.map((p) => p.id).join(', ')}): the gateway's external base URL, for the redirect URI`);
  }
  return Object.freeze({ ...(url ? { publicUrl: url } : {}), providers });
}

/** The provider whose IMAP server is `host`, if one is on. */
export function providerForImapHost(providers: readonly OAuthProvider[], host: string): OAuthProvider | undefined {
  const lower = host.toLowerCase();
  return providers.find((p) => p.imap.host === lower);
}

/** What may be shown of the providers (GET /v1/oauth/providers, GET /v1/config): id and name only. */
export function publicProviders(providers: readonly OAuthProvider[]): Array<{ id: string; name: string }> {
  return providers.map(({ id, name }) => ({ id, name }));
}
