// Acting on one message (mark read, delete) and reading it. The web process holds no IMAP
// connection: it checks the account is the caller's and on, then asks the worker that holds it
// (MailboxCommands), which runs the command over IMAP and answers within the deadline.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Adapters } from '../../../adapters/adapters.js';
import type { Config } from '../../../config.js';
import type { MailboxCommand, MailboxReply } from '../../../core/mailbox-command.js';
import type { AccountRecord } from '../../../core/types.js';
import { fillWebmailUrl } from '../../../protocol/messages.js';
import type { Authenticator } from '../auth.js';
import { ApiError, notFound } from '../errors.js';
import { MessageActionAnswer, MessageActionBody, MessageAnswer, MessageParams, MessageQuery } from '../message-schemas.js';
import { errorResponses } from '../schemas.js';
import { clientAddressKey } from '../stream-admission.js';

/** Per user (every device of it together): a person taps a few buttons a minute, a script many. */
export const MESSAGE_ACTIONS_PER_MINUTE = 60;
export const MESSAGE_READS_PER_MINUTE = 60;
/** How long a command waits for a holder to appear: one is usually claiming the account right then. */
const HOLDER_WAIT_MS = 3000;
const HOLDER_RETRY_MS = 200;

export interface MessageRoutesDeps {
  config: Pick<Config, 'imap'>;
  adapters: Pick<Adapters, 'accounts' | 'mailboxCommands'>;
  auth: Authenticator;
}

export function messageRoutes({ config, adapters, auth }: MessageRoutesDeps) {
  // The holder logs in (one IMAP connect budget), then runs the command (another).
  const deadlineMs = 2 * config.imap.connectTimeoutMs + 2000;

  /** Counted per user: a user's devices share one allowance, and one address may be a whole office. */
  const perUser = async (request: FastifyRequest): Promise<string> => {
    const principal = await auth.optional(request).catch(() => undefined);
    return principal?.kind === 'user' ? `user:${principal.userId}` : clientAddressKey(request.ip);
  };

  async function ask(request: FastifyRequest, accountId: string, command: MailboxCommand): Promise<{ reply: MailboxReply; record: AccountRecord }> {
    const userId = await auth.requireUser(request);
    const ref = { userId, accountId };
    const record = await adapters.accounts.get(ref);
    if (!record) throw notFound('account');
    if (record.disabled) throw new ApiError(409, 'account_disabled', 'the account is turned off; turn it on to act on its mail');
    // INBOX is case-insensitive (RFC 3501 5.1); other names are the server's, as the account lists them.
    const mailbox = record.mailboxes.find((name) => name === command.mailbox || (name.toUpperCase() === 'INBOX' && command.mailbox.toUpperCase() === 'INBOX'));
    if (!mailbox) throw notFound('mailbox');
    const deadlineAt = Date.now() + deadlineMs;
    const holderWanted = Date.now() + HOLDER_WAIT_MS;
    for (;;) {
      const outcome = await adapters.mailboxCommands.request(ref, { ...command, mailbox }, deadlineAt);
      if (outcome.ok) return { reply: outcome.reply, record };
      if (outcome.reason === 'no_holder' && Date.now() + HOLDER_RETRY_MS < holderWanted) {
        await new Promise((resolve) => setTimeout(resolve, HOLDER_RETRY_MS));
        continue;
      }
      throw new ApiError(503, 'mailbox_unavailable', outcome.reason === 'no_holder'
        ? 'the mailbox is not connected right now; try again in a moment'
        : 'the mailbox did not answer in time; try again in a moment', 5);
    }
  }

  /** A reply that is not the one the route wants, as the error it means. */
  function failure(reply: MailboxReply): ApiError {
    switch (reply.status) {
      case 'not_found':
        return notFound('message');
      case 'mailbox_changed':
        return new ApiError(409, 'mailbox_changed', 'the mailbox was renumbered (UIDVALIDITY changed) since this message was seen; nothing was done');
      case 'failed':
        return new ApiError(502, 'imap_unreachable', `the mail server did not do it: ${reply.message}`);
      default:
        return new ApiError(502, 'imap_unreachable', 'the mail server answered something unexpected');
    }
  }

  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();

    app.post('/v1/accounts/:id/messages/:uid/actions', {
      schema: { params: MessageParams, body: MessageActionBody, response: { 200: MessageActionAnswer, ...errorResponses } },
      config: { rateLimit: { max: MESSAGE_ACTIONS_PER_MINUTE, timeWindow: 60_000, keyGenerator: perUser } },
    }, async (request) => {
      const { action, uidValidity, mailbox = 'INBOX' } = request.body;
      const { uid } = request.params;
      const { reply } = await ask(request, request.params.id, { kind: 'action', action, mailbox, uid, uidValidity });
      if (reply.status !== 'done') throw failure(reply);
      return { action, uid, outcome: reply.outcome };
    });

    app.get('/v1/accounts/:id/messages/:uid', {
      schema: { params: MessageParams, querystring: MessageQuery, response: { 200: MessageAnswer, ...errorResponses } },
      config: { rateLimit: { max: MESSAGE_READS_PER_MINUTE, timeWindow: 60_000, keyGenerator: perUser } },
    }, async (request, response) => {
      const { uidValidity, mailbox = 'INBOX' } = request.query;
      const { reply, record } = await ask(request, request.params.id, { kind: 'read', mailbox, uid: request.params.uid, uidValidity });
      if (reply.status !== 'message') throw failure(reply);
      // The text of someone's mail: no cache, shared or private, may keep it.
      response.header('cache-control', 'no-store');
      const webmailUrl = record.webmailUrl ? fillWebmailUrl(record.webmailUrl, reply.message.uid, reply.message.mailbox) : undefined;
      return { accountId: request.params.id, ...reply.message, ...(webmailUrl ? { webmailUrl } : {}) };
    });
  };
}
