import type { RedisClient } from './connection.js';
import type { WorkerInfo, WorkerRegistry } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';

/** One hash of heartbeats: small (one field per worker) and read whole by every worker's scan. */
export class RedisWorkerRegistry implements WorkerRegistry {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async heartbeat(info: WorkerInfo): Promise<void> {
    await this.redis.hset(this.keys.workers(), info.workerId, JSON.stringify(info));
  }

  async live(maxAgeMs: number): Promise<WorkerInfo[]> {
    const all = await this.redis.hgetall(this.keys.workers());
    const oldest = Date.now() - maxAgeMs;
    const live: WorkerInfo[] = [];
    const dead: string[] = [];
    for (const [workerId, json] of Object.entries(all)) {
      const info = JSON.parse(json) as WorkerInfo;
      if (info.seenAt >= oldest) live.push(info);
      else dead.push(workerId);
    }
    if (dead.length) await this.redis.hdel(this.keys.workers(), ...dead);
    return live.sort((a, b) => a.workerId.localeCompare(b.workerId));
  }

  async remove(workerId: string): Promise<void> {
    await this.redis.hdel(this.keys.workers(), workerId);
  }
}
