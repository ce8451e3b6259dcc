// Login checks per mailbox, counted across every client address and web process. Registration and
// a PATCH with a new password each log in to the user's IMAP server; without this, anyone could
// use the gateway to guess a mailbox's password from many addresses, and get the gateway's own
// address banned (fail2ban) for all its users.
//
// Every check counts, successful or not, and is counted before the login starts: concurrent
// guesses cannot overshoot the budget between "check" and "count". A real user needs one or two
// checks per change; MAILBOX_LOGIN_LIMIT leaves room for typos.
//
// The counter is an attempt counter of kind "mailbox-login" (core/ports.ts AttemptCounter: Redis
// when the gateway has it, else in memory), so it expires with its window and every web process
// shares it.

import { createHash } from 'node:crypto';
import type { AttemptCounter } from '../../core/ports.js';
import type { ImapSettings } from '../../core/types.js';
import { ApiError } from './errors.js';

export interface MailboxLoginLimits {
  /** Login checks per mailbox per window (MAILBOX_LOGIN_LIMIT). */
  max: number;
  windowMs: number;
}

const KIND = 'mailbox-login';

/** A mailbox, however its host or user name is spelled; the port is left out, so 143 and 993 share one budget. */
export function mailboxBudgetKey(settings: Pick<ImapSettings, 'host' | 'user'>): string {
  const identity = `${settings.host.trim().toLowerCase()}\0${settings.user.toLowerCase()}`;
  // Hashed: the store need not hold user names.
  return createHash('sha256').update(identity).digest('base64url').slice(0, 32);
}

export class MailboxLoginBudget {
  constructor(private readonly attempts: AttemptCounter, private readonly limits: MailboxLoginLimits) {}

  /** Counts one login check for the mailbox; 429 rate_limited with Retry-After once its budget is spent. */
  async spend(settings: Pick<ImapSettings, 'host' | 'user'>): Promise<void> {
    const mailbox = mailboxBudgetKey(settings);
    if ((await this.attempts.record(KIND, mailbox, this.limits.windowMs)) <= this.limits.max) return;
    const retryAfter = Math.max(1, Math.ceil((await this.attempts.windowLeftMs(KIND, mailbox)) / 1000));
    throw new ApiError(429, 'rate_limited', `too many login attempts for this mailbox; try again in ${retryAfter} s`, retryAfter);
  }
}
