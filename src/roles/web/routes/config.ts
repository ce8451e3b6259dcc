// GET /v1/config: the public settings a client needs before it has a token — the IMAP server a
// registration form should suggest, whether Web Push is on, and the providers to sign in with. Nothing here is secret: it is
// what the gateway would apply anyway when a registration leaves the fields out.

import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../../../config.js';
import { publicProviders } from '../../../oauth/providers.js';
import { PublicConfig, errorResponses } from '../schemas.js';

export function configRoutes(deps: { config: Config }) {
  const { imap, push } = deps.config;
  // The same defaults POST /v1/accounts applies when host, port or security are left out.
  const body = {
    imap: {
      ...(imap.defaultHost ? { host: imap.defaultHost } : {}),
      port: imap.defaultPort ?? (imap.defaultSecurity === 'tls' ? 993 : 143),
      security: imap.defaultSecurity,
    },
    push: { enabled: push.vapid !== undefined },
    oauth: { providers: publicProviders(deps.config.oauth.providers) },
  };

  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();
    app.get('/v1/config', {
      schema: { response: { 200: PublicConfig, ...errorResponses } },
    }, async () => body);
  };
}
