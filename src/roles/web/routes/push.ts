// Web Push subscriptions. An endpoint is a URL the server will POST to, so it is checked like any
// address a user gives us (SSRF), and the keys must be real P-256 / 16-byte values.

import { createECDH } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Config } from '../../../config.js';
import { HostNotAllowedError, resolveTarget } from '../../../core/address-policy.js';
import type { AccountStore, PushSubscriptionRecord, PushSubscriptionStore } from '../../../core/ports.js';
import { newId } from '../../../core/tokens.js';
import { testJob, type PushQueue } from '../../../push/delivery.js';
import type { Authenticator } from '../auth.js';
import { ApiError, notFound } from '../errors.js';
import { Preview, errorResponses, schemaOf } from '../schemas.js';
import type { PushSubscriptionView, SubscribeRequest } from '../../../protocol/push.js';

const SubscribeBody = schemaOf<SubscribeRequest>()(Type.Object({
  subscription: Type.Object({
    endpoint: Type.String({ minLength: 1, maxLength: 2048 }),
    expirationTime: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
    keys: Type.Object({
      p256dh: Type.String({ minLength: 1, maxLength: 256 }),
      auth: Type.String({ minLength: 1, maxLength: 64 }),
    }),
  }),
  accounts: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 100, uniqueItems: true })),
  preview: Type.Optional(Preview),
}, { additionalProperties: false }));

const SubscriptionView = schemaOf<PushSubscriptionView>()(Type.Object({
  id: Type.String(),
  accounts: Type.Array(Type.String()),
  preview: Preview,
  createdAt: Type.String(),
  /** Only the origin: the full endpoint is a capability URL. */
  endpointOrigin: Type.String(),
}));

const view = (r: PushSubscriptionRecord) => ({ id: r.id, accounts: r.accounts, preview: r.preview, createdAt: r.createdAt, endpointOrigin: new URL(r.endpoint).origin });

function decodeKey(value: string, field: string): Buffer {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(value)) throw new ApiError(400, 'invalid_subscription_key', `${field} is not base64url`);
  return Buffer.from(value.replace(/=+$/, ''), 'base64url');
}

function checkKeys(keys: { p256dh: string; auth: string }): void {
  const p256dh = decodeKey(keys.p256dh, 'keys.p256dh');
  if (p256dh.length !== 65 || p256dh[0] !== 4) throw new ApiError(400, 'invalid_subscription_key', 'keys.p256dh must be an uncompressed P-256 point (65 bytes)');
  try {
    // Deriving a secret with it proves the point is on the curve.
    const probe = createECDH('prime256v1');
    probe.generateKeys();
    probe.computeSecret(p256dh);
  } catch {
    throw new ApiError(400, 'invalid_subscription_key', 'keys.p256dh is not a point on the P-256 curve');
  }
  if (decodeKey(keys.auth, 'keys.auth').length !== 16) throw new ApiError(400, 'invalid_subscription_key', 'keys.auth must be 16 bytes');
}

async function checkEndpoint(endpoint: string, allowPrivate: boolean): Promise<void> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ApiError(400, 'invalid_push_endpoint', 'subscription.endpoint is not an absolute URL');
  }
  if (url.protocol !== 'https:') throw new ApiError(400, 'invalid_push_endpoint', 'subscription.endpoint must be an https URL');
  if (url.username || url.password) throw new ApiError(400, 'invalid_push_endpoint', 'subscription.endpoint must not carry credentials');
  try {
    await resolveTarget(url.hostname, { allowPrivate, allowedHosts: [] });
  } catch (error) {
    if (error instanceof HostNotAllowedError) {
      throw new ApiError(403, 'push_endpoint_not_allowed', 'push endpoints on loopback, private or link-local addresses are not allowed');
    }
    throw new ApiError(400, 'invalid_push_endpoint', `cannot resolve ${url.hostname}`);
  }
}

export interface PushRoutesDeps {
  config: Config;
  subscriptions: PushSubscriptionStore;
  accounts: AccountStore;
  queue: PushQueue | undefined;
  auth: Authenticator;
}

export function pushRoutes(deps: PushRoutesDeps) {
  const { config } = deps;
  const requirePush = () => {
    if (!config.push.vapid || !deps.queue) throw new ApiError(503, 'push_not_configured', 'Web Push is not configured on this gateway (VAPID keys are missing)');
    return deps.queue;
  };

  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/v1/push/vapid-public-key', {
      schema: { response: { 200: Type.Object({ publicKey: Type.String() }), ...errorResponses } },
    }, async () => {
      requirePush();
      return { publicKey: config.push.vapid!.publicKey };
    });

    app.post('/v1/push/subscriptions', {
      schema: { body: SubscribeBody, response: { 200: SubscriptionView, 201: SubscriptionView, ...errorResponses } },
    }, async (request, reply) => {
      const { userId, deviceId } = await deps.auth.requireDevice(request);
      requirePush();
      const { subscription, accounts = [], preview = 'sender' } = request.body;
      checkKeys(subscription.keys);
      await checkEndpoint(subscription.endpoint, config.push.allowPrivateEndpoints);
      const owned = new Set((await deps.accounts.listForUser(userId)).map((a) => a.accountId));
      const unknown = accounts.filter((id) => !owned.has(id));
      if (unknown.length) throw new ApiError(400, 'unknown_account', `not your account: ${unknown.join(', ')}`);
      const now = new Date().toISOString();
      const result = await deps.subscriptions.upsert({
        id: newId('sub'),
        userId,
        // The subscription goes with the device that registered it (removing the device removes it).
        deviceId,
        endpoint: subscription.endpoint,
        keys: { p256dh: subscription.keys.p256dh.replace(/=+$/, ''), auth: subscription.keys.auth.replace(/=+$/, '') },
        expirationTime: subscription.expirationTime ?? null,
        accounts,
        preview,
        createdAt: now,
        updatedAt: now,
      }, config.push.maxSubscriptionsPerUser);
      if (result === 'limit') {
        throw new ApiError(409, 'push_subscription_limit', `at most ${config.push.maxSubscriptionsPerUser} push subscriptions per user`);
      }
      reply.code(result.created ? 201 : 200);
      return view(result.record);
    });

    app.get('/v1/push/subscriptions', {
      schema: { response: { 200: Type.Object({ subscriptions: Type.Array(SubscriptionView) }), ...errorResponses } },
    }, async (request) => {
      const userId = await deps.auth.requireUser(request);
      return { subscriptions: (await deps.subscriptions.list(userId)).map(view) };
    });

    app.delete('/v1/push/subscriptions/:id', {
      schema: { params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }), response: { 204: Type.Null(), ...errorResponses } },
    }, async (request, reply) => {
      const userId = await deps.auth.requireUser(request);
      if (!(await deps.subscriptions.delete(userId, request.params.id))) throw notFound('push subscription');
      return reply.code(204).send(null);
    });

    app.post('/v1/push/subscriptions/:id/test', {
      schema: { params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }), response: { 202: Type.Object({ queued: Type.Boolean() }), ...errorResponses } },
      // Each test is a request to a push service the user chose: limited per client address.
      config: { rateLimit: { max: config.web.pushTestRateLimitPerMinute, timeWindow: 60_000 } },
    }, async (request, reply) => {
      const userId = await deps.auth.requireUser(request);
      const queue = requirePush();
      const subscription = await deps.subscriptions.get(userId, request.params.id);
      if (!subscription) throw notFound('push subscription');
      await queue.enqueue([testJob(subscription)]);
      reply.code(202);
      return { queued: true };
    });
  };
}
