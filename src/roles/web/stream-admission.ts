// What one web process lets a stranger and a user hold on GET /v1/stream: sockets that have not
// authenticated yet, per client address (an IPv6 client per /64, like the rate limits), and open
// streams per user. Counting is per process and in memory: a socket's place dies with the process,
// so nothing can be left counted after a crash.

import { normalizeIP } from '@fastify/rate-limit';
import type { StreamClient } from './stream-client.js';

/** Gives a place back; calling it again does nothing, so every exit path may call it. */
export type Release = () => void;

export interface StreamLimits {
  maxPerUser: number;
  maxUnauthenticatedPerAddress: number;
}

/**
 * The address a client is limited by: IPv4-mapped IPv6 as IPv4, other IPv6 as its /64. A request
 * whose connection was reset before it was read has no address any more; those share one key.
 */
export function clientAddressKey(ip: string | undefined): string {
  return ip ? normalizeIP(ip, 64) : 'gone';
}

export class StreamAdmission {
  /** Authenticated streams, for the live feed's reconnect and the websocket-clients metric. */
  readonly clients = new Set<StreamClient>();
  private readonly unauthenticated = new Map<string, number>();
  private readonly perUser = new Map<string, number>();

  constructor(private readonly limits: StreamLimits) {}

  /** A place for a socket that has not authenticated yet; undefined when its address has none left. */
  admitUnauthenticated(ip: string | undefined): Release | undefined {
    return take(this.unauthenticated, clientAddressKey(ip), this.limits.maxUnauthenticatedPerAddress);
  }

  /** A place for one more stream of this user; undefined at WS_MAX_PER_USER. */
  admitStream(userId: string): Release | undefined {
    return take(this.perUser, userId, this.limits.maxPerUser);
  }

  /** Places held, for tests and metrics: both maps are empty when no socket is open. */
  held(): { unauthenticated: number; streams: number } {
    const sum = (map: Map<string, number>) => [...map.values()].reduce((a, b) => a + b, 0);
    return { unauthenticated: sum(this.unauthenticated), streams: sum(this.perUser) };
  }
}

function take(counts: Map<string, number>, key: string, max: number): Release | undefined {
  const current = counts.get(key) ?? 0;
  if (current >= max) return undefined;
  counts.set(key, current + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (counts.get(key) ?? 1) - 1;
    // Deleted at zero, so addresses seen once do not pile up in the map.
    if (left <= 0) counts.delete(key);
    else counts.set(key, left);
  };
}
