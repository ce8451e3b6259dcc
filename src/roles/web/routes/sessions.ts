// POST /v1/sessions: sign in with the mailbox. The mailbox is the identity: whoever proves its
// password gets a device token for the user that owns it (created with it on first use).

import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../../../config.js';
import { toAccountView } from '../../../core/types.js';
import type { AccountRegistration } from '../account-registration.js';
import { deviceName, toDeviceView } from '../device-access.js';
import { SignInAnswer, SignInBody } from '../device-schemas.js';
import { errorResponses } from '../schemas.js';

export interface SessionRoutesDeps {
  config: Config;
  registration: AccountRegistration;
}

export function sessionRoutes({ config, registration }: SessionRoutesDeps) {
  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();

    app.post('/v1/sessions', {
      schema: { body: SignInBody, response: { 201: SignInAnswer, ...errorResponses } },
      // Each sign-in costs the IMAP server a login: limited like registration.
      config: { rateLimit: { max: config.web.registerRateLimitPerMinute, timeWindow: 60_000 } },
    }, async (request, reply) => {
      const name = deviceName(request.body.deviceName, request.headers['user-agent']);
      const signIn = await registration.signIn({ imap: request.body.imap, deviceName: name });
      reply.code(201);
      return { token: signIn.token, device: toDeviceView(signIn.device, signIn.device.id), account: toAccountView(signIn.record), created: signIn.created };
    });
  };
}
