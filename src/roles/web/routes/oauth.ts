// Signing in with a mailbox provider (Google, Microsoft 365, or one the operator configured):
// GET /v1/oauth/providers, POST /v1/oauth/:provider/start, GET /v1/oauth/callback (the browser
// comes back from the provider here) and POST /v1/oauth/handoff (the web app trades the callback's
// one-time code for its device token). The flow itself is in src/oauth/sign-in.ts.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../../../config.js';
import { toAccountView } from '../../../core/types.js';
import { EMAIL_MAX_LENGTH } from '../../../protocol/discovery.js';
import { publicProviders } from '../../../oauth/providers.js';
import type { OAuthSignIn } from '../../../oauth/sign-in.js';
import { deviceName, toDeviceView } from '../device-access.js';
import { SignInAnswer } from '../device-schemas.js';
import { DeviceName, errorResponses } from '../schemas.js';

const ProviderList = Type.Object({ providers: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })) });
const ProviderParams = Type.Object({ provider: Type.String({ minLength: 1, maxLength: 32 }) });
const StartBody = Type.Object({
  /** Sent to the provider as login_hint, so the person picks the right account. */
  email: Type.Optional(Type.String({ minLength: 3, maxLength: EMAIL_MAX_LENGTH })),
  deviceName: Type.Optional(DeviceName),
}, { additionalProperties: false });
const StartAnswer = Type.Object({ authorizeUrl: Type.String() });
/** What a provider sends back (RFC 6749 4.1.2, RFC 9207 `iss`); anything else it adds is passed on as is. */
const CallbackQuery = Type.Object({
  code: Type.Optional(Type.String({ maxLength: 4096 })),
  state: Type.Optional(Type.String({ maxLength: 512 })),
  error: Type.Optional(Type.String({ maxLength: 256 })),
  error_description: Type.Optional(Type.String({ maxLength: 2048 })),
  iss: Type.Optional(Type.String({ maxLength: 2048 })),
});
const HandoffBody = Type.Object({ handoff: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });

export function oauthRoutes({ config, signIn }: { config: Config; signIn: OAuthSignIn }) {
  // Every start may cost a discovery fetch and, at the callback, an IMAP login: limited like registration.
  const rateLimit = { max: config.web.registerRateLimitPerMinute, timeWindow: 60_000 };
  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/v1/oauth/providers', {
      schema: { response: { 200: ProviderList, ...errorResponses } },
    }, async () => ({ providers: publicProviders(config.oauth.providers) }));

    app.post('/v1/oauth/:provider/start', {
      schema: { params: ProviderParams, body: StartBody, response: { 200: StartAnswer, ...errorResponses } },
      config: { rateLimit },
    }, async (request) => {
      const name = deviceName(request.body.deviceName, request.headers['user-agent']);
      const authorizeUrl = await signIn.start(request.params.provider, { deviceName: name, ...(request.body.email ? { email: request.body.email } : {}) });
      return { authorizeUrl };
    });

    app.get('/v1/oauth/callback', {
      schema: { querystring: CallbackQuery, response: { 302: Type.Null(), ...errorResponses } },
      config: { rateLimit },
      // The request log would write the URL, authorization code included: only warnings here.
      logLevel: 'warn',
    }, async (request, reply) => {
      // The raw query: the code exchange checks exactly what the provider sent.
      const query = request.raw.url?.split('?')[1] ?? '';
      return reply.redirect(await signIn.callback(query), 302);
    });

    app.post('/v1/oauth/handoff', {
      schema: { body: HandoffBody, response: { 201: SignInAnswer, ...errorResponses } },
      config: { rateLimit },
    }, async (request, reply) => {
      const done = await signIn.redeem(request.body.handoff);
      reply.code(201);
      return { token: done.token, device: toDeviceView(done.device, done.device.id), account: toAccountView(done.record), created: done.created };
    });
  };
}
