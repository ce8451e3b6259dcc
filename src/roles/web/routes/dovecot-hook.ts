// POST /v1/hooks/dovecot (and PUT, which is what Dovecot 2.3's OX driver sends): Dovecot's
// push_notification plugin calls this during each LMTP delivery to an opted-in user (see contrib/dovecot/). Dovecot waits for the answer inside the
// delivery, so the hook answers 204 at once and only then hands the hint on to the worker that
// holds the account; everything the event says is later read from IMAP by that worker.
//
// Off (404 not_found, and documented all the same) unless DOVECOT_PUSH_SECRET is set. HTTP Basic, compared in constant time.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Config } from '../../../config.js';
import type { HintBus, MailHint } from '../../../core/ports.js';
import type { GatewayMetrics } from '../../../observability/metrics.js';
import { ApiError, ErrorBodyRef } from '../errors.js';

/** A notification is a few hundred bytes (the snippet is short); anything larger is not one. */
export const HOOK_BODY_LIMIT = 16 * 1024;

const UINT32 = { minimum: 1, maximum: 0xffffffff };

/**
 * What the OX driver POSTs for a delivery. Only routing fields are read: from, subject and
 * snippet are ignored (the event's content comes from IMAP), other fields are allowed.
 */
export const DovecotNotification = Type.Object({
  user: Type.String({ minLength: 1, maxLength: 320 }),
  event: Type.Literal('messageNew'),
  folder: Type.String({ minLength: 1, maxLength: 1024 }),
  'imap-uidvalidity': Type.Integer(UINT32),
  // 0 when Dovecot had not assigned the UID yet (seen under concurrent deliveries to one user).
  'imap-uid': Type.Integer({ minimum: 0, maximum: 0xffffffff }),
}, { title: 'DovecotNotification', description: 'Body of Dovecot push_notification OX driver requests (messageNew).' });

export const DovecotHookQuery = Type.Object({
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:_-]+$', description: 'The IMAP host the accounts log in to; needed when DOVECOT_PUSH_HOSTS names several hosts or *' })),
}, { additionalProperties: false });

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

export interface DovecotHookDeps {
  config: Pick<Config, 'dovecotPush'>;
  hints: HintBus;
  metrics?: GatewayMetrics;
}

export function dovecotHookRoutes(deps: DovecotHookDeps) {
  const { secret, user, hosts } = deps.config.dovecotPush;
  // Hashes of equal length, so the comparison takes the same time whatever was sent.
  const expected = digest(`${user}:${secret ?? ''}`);
  const onlyHost = hosts !== 'any' && hosts.length === 1 ? hosts[0] : undefined;

  function checkCredentials(request: FastifyRequest, reply: FastifyReply): void {
    if (!secret) throw new ApiError(404, 'not_found', 'the Dovecot hook is off on this gateway; set DOVECOT_PUSH_SECRET to turn it on');
    const header = request.headers.authorization ?? '';
    const given = header.startsWith('Basic ') ? Buffer.from(header.slice(6).trim(), 'base64').toString('utf8') : '';
    if (!timingSafeEqual(digest(given), expected)) {
      void reply.header('www-authenticate', 'Basic realm="mailpush dovecot hook", charset="UTF-8"');
      throw new ApiError(401, 'unauthorized', 'the hook needs the Basic credentials of DOVECOT_PUSH_USER and DOVECOT_PUSH_SECRET');
    }
  }

  function route(hint: MailHint, request: FastifyRequest): void {
    deps.hints.publish(hint).then(
      (reached) => {
        if (reached === 0) deps.metrics?.dovecotHint('unknown_user');
      },
      // Lost: IDLE still announces the message, half a second later.
      (error: unknown) => request.log.warn({ err: (error as Error).message }, 'could not pass a Dovecot hint on'),
    );
  }

  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();
    app.route({
      method: ['POST', 'PUT'],
      url: '/v1/hooks/dovecot',
      bodyLimit: HOOK_BODY_LIMIT,
      // Before the body is read: a caller without the secret costs no parsing.
      onRequest: async (request, reply) => checkCredentials(request, reply),
      onResponse: async (_request, reply: FastifyReply) => {
        if (reply.statusCode >= 400) deps.metrics?.dovecotHint('rejected');
      },
      schema: {
        summary: 'Delivery notification from Dovecot (push_notification, OX driver)',
        description: 'Wakes the worker holding the account to read new mail from IMAP at once instead of waiting for IDLE. Off unless DOVECOT_PUSH_SECRET is set.',
        tags: ['hooks'],
        security: [{ dovecotBasic: [] }],
        querystring: DovecotHookQuery,
        body: DovecotNotification,
        response: { 204: Type.Null({ description: 'Accepted; the hint is passed on after this answer' }), 400: ErrorBodyRef, 401: ErrorBodyRef, 404: ErrorBodyRef, 413: ErrorBodyRef, 415: ErrorBodyRef },
      },
      handler: async (request, reply) => {
      const host = request.query.host?.toLowerCase() ?? onlyHost;
      if (!host) throw new ApiError(400, 'invalid_request', 'add ?host=<IMAP host> to the hook URL: DOVECOT_PUSH_HOSTS names several hosts or *');
      const body = request.body;
      const hint: MailHint = {
        host,
        // The http-notify value this gateway sets is "user=<login>"; the OX driver sends what follows "user=".
        login: body.user,
        mailbox: body.folder,
        uidValidity: body['imap-uidvalidity'],
        uid: body['imap-uid'],
        // Sub-millisecond: bench:latency times the stages from here to the socket.
        receivedAt: performance.timeOrigin + performance.now(),
      };
      void reply.code(204).send(null);
      // After the answer is on its way: Dovecot's delivery never waits for Redis.
      setImmediate(() => route(hint, request));
      return reply;
      },
    });
  };
}
