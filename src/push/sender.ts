// Sends one encrypted notification to one push service (RFC 8030 + RFC 8291 + RFC 8292).
//
// Kept lean on purpose: keep-alive agents per push-service origin, bounded (origin-agents.ts), the
// VAPID JWT reused per origin (see vapid.ts), and the address checked when the socket is opened,
// because a push endpoint is a URL a user gave us and DNS may have changed since it was registered.
// Each attempt has one deadline for all of it (DNS, connect, TLS, the answer and its body): an
// endpoint that accepts the connection and never answers, or answers one byte a minute, costs a
// send slot for `timeoutMs` and no longer.

import { createHash } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { ClientRequest } from 'node:http';
import { request } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import webpush from 'web-push';
import { isPublicAddress } from '../core/address-policy.js';
import type { PushSubscriptionRecord } from '../core/ports.js';
import { OriginAgents } from './origin-agents.js';
import type { PushMessage } from './payload.js';
import type { VapidSigner } from './vapid.js';

export interface SendResult {
  status: number;
  /** From a 429's Retry-After, in ms. */
  retryAfterMs?: number;
}

export class EndpointNotAllowedError extends Error {
  readonly code = 'push_endpoint_not_allowed';
}

export interface PushSenderOptions {
  vapid: VapidSigner;
  ttlSeconds: number;
  /** Deadline of one attempt, from the DNS lookup to the end of the answer. */
  timeoutMs: number;
  allowPrivateEndpoints: boolean;
  /** Sockets per push-service origin; the per-origin send cap. @default 16 */
  maxSocketsPerOrigin?: number;
  /** Keep-alive agents kept at most (one per origin). @default 64 */
  maxOriginAgents?: number;
  /** An origin's agent unused this long is closed. @default 60000 */
  originIdleMs?: number;
}

/** A topic is at most 32 URL-safe characters (RFC 8030 §5.4): a hash keeps it short and opaque. */
export function topicFor(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 32);
}

function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const header = Array.isArray(value) ? value[0] : value;
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export class PushSender {
  private readonly agents: OriginAgents;
  private readonly checkedLookup: LookupFunction;

  constructor(private readonly options: PushSenderOptions) {
    this.agents = new OriginAgents({
      maxAgents: options.maxOriginAgents ?? 64,
      idleMs: options.originIdleMs ?? 60_000,
      socketsPerOrigin: options.maxSocketsPerOrigin ?? 16,
    });
    this.checkedLookup = (hostname, lookupOptions, callback) => {
      dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses: LookupAddress[]) => {
        if (error) return callback(error, '', 0);
        const refused = !options.allowPrivateEndpoints && addresses.some((a) => !isPublicAddress(a.address));
        if (refused) return callback(new EndpointNotAllowedError(`${hostname} resolves to a private address`), '', 0);
        if (lookupOptions.all) return callback(null, addresses as unknown as string, 0);
        const first = addresses[0]!;
        callback(null, first.address, first.family);
      });
    };
  }

  async send(subscription: PushSubscriptionRecord, message: PushMessage): Promise<SendResult> {
    const url = new URL(subscription.endpoint);
    // An IP literal never goes through the lookup below, so it is checked here.
    const literal = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(literal) && !this.options.allowPrivateEndpoints && !isPublicAddress(literal)) {
      throw new EndpointNotAllowedError(`${url.hostname} is a private address`);
    }
    const encrypted = webpush.encrypt(subscription.keys.p256dh, subscription.keys.auth, JSON.stringify(message.payload), 'aes128gcm');
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'content-encoding': 'aes128gcm',
      'content-length': encrypted.cipherText.length,
      ttl: this.options.ttlSeconds,
      urgency: message.urgency,
      authorization: this.options.vapid.authorization(url.origin),
      ...(message.topicKey ? { topic: topicFor(message.topicKey) } : {}),
    };
    const { agent, release } = this.agents.acquire(url.origin);
    const { timeoutMs } = this.options;
    return new Promise<SendResult>((resolve, reject) => {
      let req: ClientRequest | undefined;
      let deadline: NodeJS.Timeout | undefined = setTimeout(() => {
        const error = Object.assign(new Error(`push service did not answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
        settle(() => reject(error));
        req?.destroy(error); // closes the socket: a late answer must not reach the next request on it
      }, timeoutMs);
      const settle = (outcome: () => void) => {
        if (!deadline) return;
        clearTimeout(deadline);
        deadline = undefined;
        release();
        outcome();
      };
      try {
        req = request(url, { method: 'POST', headers, agent, lookup: this.checkedLookup }, (res) => {
          res.resume(); // the body is not needed, but must be read for the socket to be reused
          res.on('end', () => settle(() => resolve({ status: res.statusCode ?? 0, ...(res.statusCode === 429 ? { retryAfterMs: parseRetryAfter(res.headers['retry-after']) } : {}) })));
          res.on('error', (error) => settle(() => reject(error)));
        });
      } catch (error) {
        settle(() => reject(error as Error));
        return;
      }
      req.on('error', (error) => settle(() => reject(error)));
      req.end(encrypted.cipherText);
    });
  }

  /** Keep-alive agents open now, one per recently used origin. */
  get originAgents(): number {
    return this.agents.size;
  }

  close(): void {
    this.agents.close();
  }
}
