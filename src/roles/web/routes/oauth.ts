// Signing in with a mailbox provider (Google, Microsoft 365, or one the operator configured):
// GET /v1/oauth/providers, POST /v1/oauth/:provider/start, GET /v1/oauth/callback (the browser
// comes back from the provider here) and POST /v1/oauth/handoff (the web app trades the callback's
// one-time code for its device token). The flow itself is in ../oauth-sign-in.ts.

import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../../../config.js';
import { toAccountView } from '../../../core/types.js';
import { EMAIL_MAX_LENGTH } from '../../../protocol/discovery.js';
import { publicProviders } from '../../../oauth/providers.js';
import { BINDING_COOKIE_PREFIX, STATE_TTL_MS, type OAuthSignIn } from '../oauth-sign-in.js';
import type { Authenticator } from '../auth.js';
import { deviceName, toDeviceView } from '../device-access.js';
import { ApiError } from '../errors.js';
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

/**
 * The cookies that bind a sign-in to the browser that started it, one per sign-in (see
 * ../oauth-sign-in.ts). Only the callback reads them; SameSite=Lax still sends them there, since the
 * provider's redirect is a top-level navigation. Secure whenever PUBLIC_URL is https.
 */
const COOKIE_PATH = '/v1/oauth/';
/**
 * Sign-ins one browser may have pending at once. A start beyond it drops the browser's oldest
 * binding cookie (that sign-in then fails at its callback), so no page can make a browser carry
 * ever more cookies to this gateway; each is under 100 bytes and gone after 10 minutes anyway.
 */
export const MAX_PENDING_SIGN_INS = 5;

function setBindingCookie(reply: FastifyReply, name: string, value: string, secure: boolean, maxAgeSeconds: number): void {
  // Fastify appends each set-cookie header rather than replacing the last.
  reply.header('set-cookie', stringifySetCookie({ name, value, path: COOKIE_PATH, httpOnly: true, secure, sameSite: 'lax', maxAge: maxAgeSeconds }));
}

/** The browser's binding cookies beyond what one more sign-in leaves room for, oldest first. */
function bindingCookiesToDrop(cookies: Record<string, string | undefined>): string[] {
  const pending = Object.entries(cookies)
    .filter(([name]) => name.startsWith(BINDING_COOKIE_PREFIX))
    // The value starts with its creation time in base 36; anything unreadable counts as oldest.
    .map(([name, value]) => ({ name, createdAt: parseInt(value?.split('.')[0] ?? '', 36) || 0 }))
    .sort((a, b) => a.createdAt - b.createdAt);
  return pending.slice(0, Math.max(0, pending.length - (MAX_PENDING_SIGN_INS - 1))).map((cookie) => cookie.name);
}

export function oauthRoutes({ config, signIn, auth }: { config: Config; signIn: OAuthSignIn; auth: Authenticator }) {
  // Every start may cost a discovery fetch and, at the callback, an IMAP login: limited like registration.
  const rateLimit = { max: config.web.registerRateLimitPerMinute, timeWindow: 60_000 };
  const secureCookie = config.oauth.publicUrl?.startsWith('https:') ?? false;
  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/v1/oauth/providers', {
      schema: { response: { 200: ProviderList, ...errorResponses } },
    }, async () => ({ providers: publicProviders(config.oauth.providers) }));

    app.post('/v1/oauth/:provider/start', {
      schema: {
        summary: "Start signing in with a mailbox provider (the web app then opens the provider's page)",
        description: 'Without a bearer token the callback signs in (or registers) with the mailbox; with one it adds the mailbox to that user. '
          + 'Sets the HttpOnly, SameSite=Lax cookie `mailpush_oauth_<hash of the state>` (Path /v1/oauth/, 10 minutes) that binds the sign-in to this browser: '
          + 'call it from the page that will follow the provider back (a same-origin fetch stores it). A browser may have '
          + `${MAX_PENDING_SIGN_INS} sign-ins pending at once; one more drops the oldest one's cookie.`,
        params: ProviderParams,
        body: StartBody,
        response: { 200: StartAnswer, ...errorResponses },
      },
      config: { rateLimit },
    }, async (request, reply) => {
      // With a token the mailbox is added to that user; without one the callback signs in.
      const principal = await auth.optional(request);
      if (principal?.kind === 'admin') throw new ApiError(403, 'forbidden', 'the admin token cannot own accounts');
      const name = deviceName(request.body.deviceName, request.headers['user-agent']);
      const { authorizeUrl, binding } = await signIn.start(request.params.provider, {
        deviceName: name,
        ...(request.body.email ? { email: request.body.email } : {}),
        ...(principal ? { userId: principal.userId } : {}),
      });
      for (const name of bindingCookiesToDrop(parseCookie(request.headers.cookie ?? ''))) setBindingCookie(reply, name, '', secureCookie, 0);
      setBindingCookie(reply, binding.name, binding.value, secureCookie, STATE_TTL_MS / 1000);
      return { authorizeUrl };
    });

    app.get('/v1/oauth/callback', {
      schema: {
        summary: 'Where the provider sends the browser back',
        description: 'Answers 302 to `#/oauth/done?handoff=` (signed in: trade the code at POST /v1/oauth/handoff), `#/oauth/added?account=` '
          + '(started with a token: the mailbox is that user\'s account) or `#/oauth/error?code=`. A state is accepted once, within 10 minutes, '
          + 'and only with the `mailpush_oauth_<hash of the state>` cookie its start set (else oauth_state_invalid); that cookie is cleared.',
        querystring: CallbackQuery,
        response: { 302: Type.Null(), ...errorResponses },
      },
      config: { rateLimit },
      // The request log would write the URL, authorization code included: only warnings here.
      logLevel: 'warn',
    }, async (request, reply) => {
      // The raw query: the code exchange checks exactly what the provider sent.
      const query = request.raw.url?.split('?')[1] ?? '';
      const { location, spentCookie, failure } = await signIn.callback(query, parseCookie(request.headers.cookie ?? ''));
      if (failure) request.log.warn({ code: failure.code, reason: failure.reason }, 'oauth sign-in did not finish');
      // One sign-in, one callback: its cookie is done (the browser's other sign-ins keep theirs).
      if (spentCookie) setBindingCookie(reply, spentCookie, '', secureCookie, 0);
      return reply.redirect(location, 302);
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
