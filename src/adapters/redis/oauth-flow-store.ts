// Pending OAuth sign-ins and handoffs in Redis: one global key per code hash that expires with it;
// GETDEL makes a take single use across every web process.

import type { OAuthFlowKind, OAuthFlowStore } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';
import type { RedisClient } from './connection.js';

export class RedisOAuthFlowStore implements OAuthFlowStore {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async put(kind: OAuthFlowKind, keyHash: string, value: string, expiresAtMs: number): Promise<void> {
    await this.redis.set(this.keys.oauthFlow(kind, keyHash), value, 'PX', Math.max(1, expiresAtMs - Date.now()));
  }

  async take(kind: OAuthFlowKind, keyHash: string, nowMs: number): Promise<string | undefined> {
    void nowMs; // Redis expires the key itself, on its own clock
    return (await this.redis.getdel(this.keys.oauthFlow(kind, keyHash))) ?? undefined;
  }
}
