// Login checks per mailbox, counted across every client address and web process. Registration and
// a PATCH with a new password each log in to the user's IMAP server; without this, anyone could
// use the gateway to guess a mailbox's password from many addresses, and get the gateway's own
// address banned (fail2ban) for all its users.
//
// Every check counts, successful or not, and is counted before the login starts: concurrent
// guesses cannot overshoot the budget between "check" and "count". A real user needs one or two
// checks per change; MAILBOX_LOGIN_LIMIT leaves room for typos.
//
// The counter lives in @fastify/rate-limit's store (Redis when the gateway has it, else in
// memory), so it expires like any other rate limit and needs no storage of its own. (In Redis its
// key is the rate-limit prefix, then "undefinedundefined-" where a route's limits have their
// method and URL: createRateLimit's limiters have no route.)

import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type {} from '@fastify/rate-limit'; // adds app.createRateLimit
import type { ImapSettings } from '../../core/types.js';
import { ApiError } from './errors.js';

export interface MailboxLoginLimits {
  /** Login checks per mailbox per window (MAILBOX_LOGIN_LIMIT). */
  max: number;
  windowMs: number;
}

/** Enough mailboxes for the in-memory store that a stranger cannot evict a counter by cycling through others. */
const EMBEDDED_MAILBOXES_TRACKED = 50_000;

/** A mailbox, however its host or user name is spelled; the port is left out, so 143 and 993 share one budget. */
export function mailboxBudgetKey(settings: Pick<ImapSettings, 'host' | 'user'>): string {
  const identity = `${settings.host.trim().toLowerCase()}\0${settings.user.toLowerCase()}`;
  // Hashed: the store need not hold user names.
  return `mailbox-login:${createHash('sha256').update(identity).digest('base64url').slice(0, 32)}`;
}

export class MailboxLoginBudget {
  private readonly limiter: ReturnType<FastifyInstance['createRateLimit']>;

  constructor(app: FastifyInstance, limits: MailboxLoginLimits) {
    // `cache` sizes the in-memory store's LRU; the plugin reads it here but its types leave it out.
    const embeddedStore = { cache: EMBEDDED_MAILBOXES_TRACKED } as object;
    this.limiter = app.createRateLimit({
      ...embeddedStore,
      max: limits.max,
      timeWindow: limits.windowMs,
      // The limiter is keyed by request; ours is a stand-in that carries the mailbox's key.
      keyGenerator: (request) => (request as unknown as MailboxProbe).mailboxKey,
    });
  }

  /** Counts one login check for the mailbox; 429 rate_limited with Retry-After once its budget is spent. */
  async spend(settings: Pick<ImapSettings, 'host' | 'user'>): Promise<void> {
    const probe: MailboxProbe = { mailboxKey: mailboxBudgetKey(settings), routeOptions: { config: {} } };
    const result = await this.limiter(probe as unknown as FastifyRequest);
    if (result.isAllowed || !result.isExceeded) return;
    const retryAfter = Math.max(1, result.ttlInSeconds);
    throw new ApiError(429, 'rate_limited', `too many login attempts for this mailbox; try again in ${retryAfter} s`, retryAfter);
  }
}

/** What the limiter reads from a request: the key (through keyGenerator) and the route's config. */
interface MailboxProbe {
  mailboxKey: string;
  routeOptions: { config: Record<string, never> };
}
