// GET /v1/discover?email=: the IMAP server (and OAuth provider) to suggest for an address, so the
// registration form can fill in what most people do not know. Open without a token, like
// registration, and limited per client address like it: each miss costs DNS queries and maybe an
// HTTPS fetch at a host the asker chose.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import type { Config } from '../../../config.js';
import { dnsLookups } from '../../../discovery/dns-lookups.js';
import { DiscoveryBusyError, MailServerDiscovery, domainOf } from '../../../discovery/mail-server-discovery.js';
import { DISCOVERY_SOURCES, EMAIL_MAX_LENGTH, type DiscoveryResult as DiscoveryResultShape } from '../../../protocol/discovery.js';
import { IMAP_SECURITIES } from '../../../protocol/accounts.js';
import { ApiError } from '../errors.js';
import { errorResponses, literals, schemaOf } from '../schemas.js';

export const DiscoverQuery = Type.Object(
  { email: Type.String({ minLength: 3, maxLength: EMAIL_MAX_LENGTH }) },
  { additionalProperties: false },
);

export const DiscoveryResult = schemaOf<DiscoveryResultShape>()(Type.Object({
  imap: Type.Object({ host: Type.String(), port: Type.Integer(), security: literals(IMAP_SECURITIES) }),
  oauth: Type.Union([Type.Object({ provider: Type.String() }), Type.Null()]),
  source: literals(DISCOVERY_SOURCES),
}));

export function discoverRoutes(deps: { config: Config; logger?: Logger }) {
  const { config } = deps;
  const { imap } = config;
  const discovery = new MailServerDiscovery({
    lookups: dnsLookups(config.discovery.dnsServers),
    autoconfig: { policy: { allowPrivate: imap.allowPrivate, allowedHosts: imap.allowedHosts }, port: config.discovery.autoconfigPort },
    providers: config.oauth.providers,
    ...(imap.defaultHost ? {
      fallback: { host: imap.defaultHost, port: imap.defaultPort ?? (imap.defaultSecurity === 'tls' ? 993 : 143), security: imap.defaultSecurity },
    } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });

  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();
    app.get('/v1/discover', {
      schema: { querystring: DiscoverQuery, response: { 200: DiscoveryResult, ...errorResponses } },
      config: { rateLimit: { max: config.discovery.rateLimitPerMinute, timeWindow: 60_000 } },
    }, async (request) => {
      const domain = domainOf(request.query.email);
      if (!domain) throw new ApiError(400, 'invalid_request', 'email must be an address like name@example.com');
      try {
        const result = await discovery.discover(domain);
        if (!result) throw new ApiError(404, 'discovery_failed', `no IMAP server found for ${domain}; enter it by hand`);
        return result;
      } catch (error) {
        if (error instanceof DiscoveryBusyError) throw new ApiError(503, 'unavailable', 'too many lookups in progress; try again shortly', 5);
        throw error;
      }
    });
  };
}
