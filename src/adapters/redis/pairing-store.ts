// Pairing codes in Redis: a global key per code hash (the claim knows only the code) that expires
// with the code, and a set under the user's hash tag so deleting the user finds its codes.

import type { RedisClient } from './connection.js';
import type { PairingStore } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';
import { claimPairing } from './scripts.js';

export class RedisPairingStore implements PairingStore {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async create(userId: string, codeHash: string, expiresAtMs: number): Promise<void> {
    const ttlMs = Math.max(1, expiresAtMs - Date.now());
    const userSet = this.keys.userPairings(userId);
    // Every code lives equally long, so the newest code's expiry is the set's.
    await this.redis.multi().sadd(userSet, codeHash).pexpire(userSet, ttlMs).exec();
    await this.redis.set(this.keys.pairing(codeHash), userId, 'PX', ttlMs);
  }

  async claim(codeHash: string, nowMs: number): Promise<string | undefined> {
    void nowMs; // Redis expires the key itself, on its own clock
    const userId = (await claimPairing.run(this.redis, [this.keys.pairing(codeHash)], [])) as string | null;
    if (!userId) return undefined;
    await this.redis.srem(this.keys.userPairings(userId), codeHash);
    return userId;
  }
}
