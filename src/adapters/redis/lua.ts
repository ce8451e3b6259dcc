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
   * run, then WAIT until `replicas` replicas have what it wrote, for at most `timeoutMs`: the two in
   * one pipeline, so the WAIT goes to the primary that ran the script (on a cluster, a pipeline goes
   * to the node of its keys; WAIT has none) right behind it. Resolves to the script's reply and how
   * many replicas acknowledged (fewer than asked when the timeout ran out or the WAIT failed: the
   * write stands).
   * WAIT holds the connection's later commands until it returns, hence a short timeout.
   */
  async runReplicated(redis: RedisClient, keys: string[], args: Array<string | number>, replicas: number, timeoutMs: number): Promise<{ reply: unknown; replicas: number }> {
    const exec = async (command: 'evalsha' | 'eval') => {
      const pipeline = redis.pipeline();
      pipeline[command](command === 'evalsha' ? this.sha : this.source, keys.length, ...keys, ...args);
      pipeline.call('WAIT', replicas, timeoutMs);
      return (await pipeline.exec()) ?? [];
    };
    let replies = await exec('evalsha');
    if (replies[0]?.[0]?.message.startsWith('NOSCRIPT')) replies = await exec('eval');
    const [[scriptError, reply] = [null, undefined], [waitError, acknowledged] = [null, 0]] = replies;
    if (scriptError) throw scriptError;
    // The script ran: its effects stand whatever became of the WAIT, so the caller must hear its
    // reply (an append reported failed would keep its pushes from being queued); a WAIT that
    // failed counts as no replica acknowledging.
    return { reply, replicas: waitError ? 0 : Number(acknowledged) };
  }

  /**
   * Many calls in one pipeline: one write and one read however many there are, instead of a
   * round trip and a promise each. Results come back in call order; a reply error throws.
   * On a Redis Cluster one pipeline may only hold keys of one node, so there each call goes on its
   * own, all sent at once (connection.ts says why not auto-pipelined), each following its own
   * redirect after a failover.
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
