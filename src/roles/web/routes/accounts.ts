// Registering and managing mailboxes. Registration itself (defaults, one account per mailbox, the
// login that proves the credentials) is AccountRegistration's; these routes authenticate, validate
// against the schemas and shape the responses.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Adapters } from '../../../adapters/adapters.js';
import type { Config } from '../../../config.js';
import type { SecretBox } from '../../../core/secret-box.js';
import { toAccountView } from '../../../core/types.js';
import type { ImapClientOptions, ImapCredential } from '../../../imap/client.js';
import { listFolders } from '../../../imap/folders.js';
import { openImapCredential } from '../../../oauth/grant.js';
import { MAX_MAILBOXES_WITHOUT_NOTIFY, MAX_WATCHED_MAILBOXES } from '../../../protocol/accounts.js';
import { imapApiError, type AccountRegistration } from '../account-registration.js';
import { webmailTemplateProblem } from '../../../protocol/messages.js';
import { deviceName, toDeviceView } from '../device-access.js';
import type { Authenticator } from '../auth.js';
import { ApiError, notFound } from '../errors.js';
import {
  AccountEnvelope, AccountFolders, AccountIdParams, AccountList, CreateAccountBody, CreatedAccount, PatchAccountBody, errorResponses,
} from '../schemas.js';

export interface AccountRoutesDeps {
  config: Config;
  adapters: Pick<Adapters, 'accounts' | 'control'>;
  auth: Authenticator;
  secretBox: SecretBox;
  registration: AccountRegistration;
  /** For the folder list's login. */
  imap: ImapClientOptions;
}

export function accountRoutes(deps: AccountRoutesDeps) {
  const { config, adapters, auth, secretBox, registration, imap } = deps;

  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();

    app.post('/v1/accounts', {
      schema: { body: CreateAccountBody, response: { 201: CreatedAccount, ...errorResponses } },
      config: { rateLimit: { max: config.web.registerRateLimitPerMinute, timeWindow: 60_000 } },
    }, async (request, reply) => {
      const principal = await auth.optional(request);
      if (principal?.kind === 'admin') throw new ApiError(403, 'forbidden', 'the admin token cannot own accounts');
      reply.code(201);
      if (!principal) {
        // Without a token this is a sign-in (POST /v1/sessions), answered in this route's shape.
        const { deviceName: given, ...mailbox } = request.body;
        const signIn = await registration.signIn({ ...mailbox, deviceName: deviceName(given, request.headers['user-agent']) });
        return { account: toAccountView(signIn.record), token: signIn.token, device: toDeviceView(signIn.device, signIn.device.id), created: signIn.created };
      }
      const { record } = await registration.register(request.body, principal.userId);
      return { account: toAccountView(record) };
    });

    app.get('/v1/accounts', {
      schema: { response: { 200: AccountList, ...errorResponses } },
    }, async (request) => {
      const userId = await auth.requireUser(request);
      return { accounts: (await adapters.accounts.listForUser(userId)).map(toAccountView) };
    });

    app.get('/v1/accounts/:id', {
      schema: { params: AccountIdParams, response: { 200: AccountEnvelope, ...errorResponses } },
    }, async (request) => {
      const userId = await auth.requireUser(request);
      const record = await adapters.accounts.get({ userId, accountId: request.params.id });
      if (!record) throw notFound('account');
      return { account: toAccountView(record) };
    });

    app.get('/v1/accounts/:id/folders', {
      schema: { params: AccountIdParams, response: { 200: AccountFolders, ...errorResponses } },
      // A login at the user's IMAP server each time: limited per client address like a password change.
      config: { rateLimit: { max: config.web.accountUpdateRateLimitPerMinute, timeWindow: 60_000 } },
    }, async (request) => {
      const userId = await auth.requireUser(request);
      const record = await adapters.accounts.get({ userId, accountId: request.params.id });
      if (!record) throw notFound('account');
      let credential: ImapCredential;
      try {
        credential = openImapCredential(secretBox, record);
      } catch {
        throw new ApiError(422, 'imap_auth_failed', 'the stored credentials cannot be decrypted; set the password again');
      }
      const listed = await listFolders(record.imap, credential, imap).catch((error: unknown) => {
        throw imapApiError(error, record.imap, credential);
      });
      return {
        folders: listed.folders,
        truncated: listed.truncated,
        maxMailboxes: listed.notify ? MAX_WATCHED_MAILBOXES : MAX_MAILBOXES_WITHOUT_NOTIFY,
      };
    });

    app.patch('/v1/accounts/:id', {
      schema: { params: AccountIdParams, body: PatchAccountBody, response: { 200: AccountEnvelope, ...errorResponses } },
      // A new password is a login at the user's IMAP server: limited per client address, and per mailbox by proveLogin.
      config: { rateLimit: { max: config.web.accountUpdateRateLimitPerMinute, timeWindow: 60_000 } },
    }, async (request) => {
      const userId = await auth.requireUser(request);
      const ref = { userId, accountId: request.params.id };
      const record = await adapters.accounts.get(ref);
      if (!record) throw notFound('account');
      const { imap, mailboxes, disabled, webmailUrl } = request.body;
      const webmailProblem = typeof webmailUrl === 'string' ? webmailTemplateProblem(webmailUrl) : undefined;
      if (webmailProblem) throw new ApiError(400, 'invalid_request', webmailProblem);
      if (imap?.pass !== undefined && record.auth === 'oauth2') {
        throw new ApiError(400, 'invalid_request', `this mailbox signs in with ${record.provider ?? 'its provider'} (OAuth2), not a password; sign in with the provider again instead`);
      }
      if (imap?.pass !== undefined) await registration.proveLogin(record.imap, imap.pass);
      const updated = await adapters.accounts.update(ref, {
        ...(imap?.pass !== undefined ? { sealedPassword: secretBox.seal(imap.pass, ref.accountId) } : {}),
        ...(mailboxes ? { mailboxes } : {}),
        ...(disabled !== undefined ? { disabled } : {}),
        ...(webmailUrl !== undefined ? { webmailUrl } : {}),
      });
      if (!updated) throw notFound('account');
      // The worker starts the account over (it hears of the change on the bus): a new password
      // clears an auth failure at once, and new mailboxes are not watched before they connect.
      const restarts = record.disabled || imap?.pass !== undefined || mailboxes !== undefined;
      // An OAuth mailbox whose provider refused the refresh stays so until its person signs in
      // again: restarting it would only try the refused grant once more.
      const state = updated.disabled ? 'disabled' : updated.state === 'reauth_required' ? 'reauth_required' : restarts ? 'connecting' : updated.state;
      if (state !== updated.state) {
        await adapters.accounts.setState(ref, { state, lastError: null });
        updated.state = state;
        delete updated.lastError;
      }
      await adapters.control.publish({ kind: 'updated', ...ref });
      return { account: toAccountView(updated) };
    });

    app.delete('/v1/accounts/:id', {
      schema: { params: AccountIdParams, response: { 204: Type.Null(), ...errorResponses } },
    }, async (request, reply) => {
      const userId = await auth.requireUser(request);
      const ref = { userId, accountId: request.params.id };
      if (!(await adapters.accounts.delete(ref))) throw notFound('account');
      await adapters.control.publish({ kind: 'deleted', ...ref });
      return reply.code(204).send(null);
    });
  };
}
