import { createHash } from 'node:crypto';
import { isCluster, type RedisClient } from './connection.js';

/**
 * A Lua script run by its SHA (EVALSHA), falling back to EVAL once when the server does not know
 * it yet, for example right after a Redis restart.
 */
export class LuaScript {
  private readonly sha: string;

  constructor(readonly name: string, private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: RedisClient, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
        return redis.eval(this.source, keys.length, ...keys, ...args);
      }
      throw error;
    }
  }

  /**
   * Many calls in one pipeline: one write and one read however many there are, instead of a
   * round trip and a promise each. Results come back in call order; a reply error throws.
   * On a Redis Cluster one pipeline may only hold keys of one node, so there each call goes on its
   * own and the client's auto-pipelining batches them per node: one round trip per node.
   */
  async runMany(redis: RedisClient, calls: ReadonlyArray<{ keys: string[]; args: Array<string | number> }>): Promise<unknown[]> {
    if (isCluster(redis)) return Promise.all(calls.map(({ keys, args }) => this.run(redis, keys, args)));
    const exec = async () => {
      const pipeline = redis.pipeline();
      for (const { keys, args } of calls) pipeline.evalsha(this.sha, keys.length, ...keys, ...args);
      return (await pipeline.exec()) ?? [];
    };
    let replies = await exec();
    if (replies.some(([error]) => error?.message.startsWith('NOSCRIPT'))) {
      // A restarted Redis forgot the script: load it once, then the whole batch again.
      await redis.script('LOAD', this.source);
      replies = await exec();
    }
    return replies.map(([error, value]) => {
      if (error) throw error;
      return value;
    });
  }
}
