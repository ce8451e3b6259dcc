// Who may start a send now. Both queues ask the same question before a push leaves: fewer than
// `concurrency` sends in flight in this process, fewer than `perUser` for the push's user and fewer
// than `perOrigin` to its push service. A user whose endpoints never answer therefore holds at
// most `perUser` slots (until the attempt's deadline), and a hostile push service shared by many
// accounts at most `perOrigin`: the rest of the slots stay free for everyone else.

import type { PushJob } from './delivery.js';

export interface SendLimitOptions {
  /** Sends in flight in this process. */
  concurrency: number;
  /** Sends in flight for one user. */
  perUser: number;
  /** Sends in flight to one push-service origin (scheme, host, port). */
  perOrigin: number;
}

/** The push service a job goes to; '' when its endpoint is unknown or not a URL (it then fails on its own). */
export function originOf(job: PushJob): string {
  try {
    return job.subscription ? new URL(job.subscription.endpoint).origin : '';
  } catch {
    return '';
  }
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}

export class SendLimits {
  private total = 0;
  private readonly byUser = new Map<string, number>();
  private readonly byOrigin = new Map<string, number>();

  constructor(readonly options: SendLimitOptions) {}

  get inFlight(): number {
    return this.total;
  }

  /** Whether a send for this user to this origin may start now. */
  allows(userId: string, origin: string): boolean {
    return this.total < this.options.concurrency
      && (this.byUser.get(userId) ?? 0) < this.options.perUser
      && (this.byOrigin.get(origin) ?? 0) < this.options.perOrigin;
  }

  /** Whether any send may start now, whoever it is for. */
  hasRoom(): boolean {
    return this.total < this.options.concurrency;
  }

  /** Takes a slot if allowed; returns its release (idempotent), or undefined when not allowed. */
  tryStart(userId: string, origin: string): (() => void) | undefined {
    if (!this.allows(userId, origin)) return undefined;
    this.total++;
    bump(this.byUser, userId, 1);
    bump(this.byOrigin, origin, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      bump(this.byUser, userId, -1);
      bump(this.byOrigin, origin, -1);
    };
  }
}
