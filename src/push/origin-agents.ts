// Keep-alive HTTPS agents, one per push-service origin, so the few real push services (FCM,
// Mozilla, Apple, WNS) reuse their TLS connections. Endpoints are URLs users give us, though, so
// origins are unbounded: subscribe, test and delete with a fresh origin each time would otherwise
// leave an agent and its open sockets behind every time. Hence:
// - at most `maxAgents` agents: a new origin evicts the least recently used idle one (its sockets
//   are closed); when every agent is busy, the send gets a one-shot connection instead;
// - an agent unused for `idleMs` is closed by a sweep.
// Descriptors held for push are then at most maxAgents × socketsPerOrigin idle sockets plus the
// sends in flight.

import { Agent } from 'node:https';

export interface OriginAgentOptions {
  maxAgents: number;
  idleMs: number;
  /** Sockets per origin, busy or idle; the same as the per-origin send cap. */
  socketsPerOrigin: number;
}

interface Pooled {
  agent: Agent;
  busy: number;
  lastUsed: number;
}

export class OriginAgents {
  /** In least-recently-used-first order: an agent is moved to the end when taken. */
  private readonly pool = new Map<string, Pooled>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: OriginAgentOptions) {
    this.sweeper = setInterval(() => this.evictIdle(), Math.max(250, Math.floor(options.idleMs / 2)));
    this.sweeper.unref();
  }

  /** Agents kept (for the mailpush_push_origin_agents gauge). */
  get size(): number {
    return this.pool.size;
  }

  /** The origins with an agent, least recently used first. */
  origins(): string[] {
    return [...this.pool.keys()];
  }

  /** An agent for one request to `origin`; call `release` once the request is over. */
  acquire(origin: string): { agent: Agent; release: () => void } {
    let pooled = this.pool.get(origin);
    if (pooled) {
      this.pool.delete(origin);
    } else {
      if (this.pool.size >= this.options.maxAgents && !this.evictLeastRecentlyUsed()) {
        const oneShot = new Agent({ keepAlive: false });
        return { agent: oneShot, release: once(() => oneShot.destroy()) };
      }
      pooled = {
        agent: new Agent({ keepAlive: true, maxSockets: this.options.socketsPerOrigin, maxFreeSockets: this.options.socketsPerOrigin, scheduling: 'lifo' }),
        busy: 0,
        lastUsed: Date.now(),
      };
    }
    this.pool.set(origin, pooled);
    pooled.busy++;
    const taken = pooled;
    return {
      agent: taken.agent,
      release: once(() => {
        taken.busy--;
        taken.lastUsed = Date.now();
      }),
    };
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const { agent } of this.pool.values()) agent.destroy();
    this.pool.clear();
  }

  private evictLeastRecentlyUsed(): boolean {
    for (const [origin, pooled] of this.pool) {
      if (pooled.busy > 0) continue;
      pooled.agent.destroy();
      this.pool.delete(origin);
      return true;
    }
    return false;
  }

  private evictIdle(): void {
    const cutoff = Date.now() - this.options.idleMs;
    for (const [origin, pooled] of this.pool) {
      if (pooled.busy > 0 || pooled.lastUsed > cutoff) continue;
      pooled.agent.destroy();
      this.pool.delete(origin);
    }
  }
}

function once(action: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
}
