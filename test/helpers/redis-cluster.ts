// A real Redis Cluster on loopback: six redis-servers (three primaries, one replica each), joined
// with `redis-cli --cluster create`, so the adapters meet what a clustered deployment really does:
// CROSSSLOT refusals, MOVED redirects, pipelines that must stay on one node, sharded pub/sub.
//
// Each node is a private redis-server of redis.ts (temp dir, free port, log tail). The cluster bus
// gets a free port of its own (--cluster-port) rather than the default port + 10000, which
// nothing has checked is free.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort, LOOPBACK } from './ports.js';
import { startRedis, type RedisServer } from './redis.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** How many primaries; each gets one replica. */
const PRIMARIES = 3;

export interface RedisCluster {
  /** Every node, primaries and replicas, in creation order. */
  readonly nodes: readonly RedisServer[];
  /** REDIS_CLUSTER_NODES for mailpush: every node as host:port, comma-separated. */
  readonly seeds: string;
  /** Stops every node and removes their temp dirs. */
  cleanup(): Promise<void>;
  /** The end of every node's redis.log, for a failure message. */
  logTail(): Promise<string>;
  /** The primary serving `key`'s slot, as a node still running sees the cluster now. */
  ownerOf(key: string): Promise<RedisServer>;
  /** The replica of `primary`. */
  replicaOf(primary: RedisServer): Promise<RedisServer>;
  /**
   * Waits until a node other than `failed` (stopped or killed) serves `key`'s slot, its replica
   * promoted, and the surviving nodes see the cluster whole again. Resolves to the new primary.
   */
  awaitTakeover(key: string, failed: RedisServer): Promise<RedisServer>;
}

export interface StartRedisClusterOptions {
  /** More redis-server arguments for every node, e.g. RECOMMENDED_REDIS_ARGS. */
  args?: string[];
  /** Every node requires it (requirepass, and masterauth for replication), as a managed cluster would. */
  password?: string;
}

export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisCluster> {
  const auth = options.password ? ['-a', options.password, '--no-auth-warning'] : [];
  const clusterInfo = async (port: number): Promise<string> => {
    const { stdout } = await run('redis-cli', ['-h', LOOPBACK, '-p', String(port), ...auth, 'cluster', 'info'], { timeout: 5000 });
    return stdout;
  };
  const nodes: RedisServer[] = [];
  const cleanup = async () => {
    await Promise.all(nodes.map((node) => node.cleanup()));
  };
  try {
    for (let i = 0; i < PRIMARIES * 2; i++) {
      const busPort = await freePort();
      nodes.push(await startRedis({
        args: [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', 'nodes.conf', // relative to the node's own temp dir
          '--cluster-node-timeout', '1000', // a short failover for the tests that kill a primary
          // A replica syncs at once instead of 5 s later: until it has, it cannot take over.
          '--repl-diskless-sync-delay', '0',
          '--cluster-port', String(busPort),
          ...(options.args ?? []),
        ],
      }));
    }
    if (options.password) {
      // Set once each node answers (redis.ts's start-up probe is an unauthenticated PING).
      for (const node of nodes) {
        // masterauth first: once requirepass is set, an unauthenticated redis-cli is refused.
        for (const setting of ['masterauth', 'requirepass']) {
          await run('redis-cli', ['-h', LOOPBACK, '-p', String(node.port), 'config', 'set', setting, options.password], { timeout: 5000 });
        }
      }
    }
    const addresses = nodes.map((node) => `${LOOPBACK}:${node.port}`);
    await run('redis-cli', [...auth, '--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 });
    // Every node must agree the cluster is whole before a client asks it for the slot map.
    for (const node of nodes) {
      await waitFor(async () => {
        const info = await clusterInfo(node.port);
        return info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384') && info.includes(`cluster_known_nodes:${nodes.length}`);
      }, { timeoutMs: 20_000, what: `cluster_state:ok on node ${node.port}` });
    }
    // And every replica has its primary's data: a replica that never synced cannot be promoted.
    for (const node of nodes) {
      await waitFor(async () => {
        const { stdout } = await run('redis-cli', ['-h', LOOPBACK, '-p', String(node.port), ...auth, 'info', 'replication'], { timeout: 5000 });
        return stdout.includes('role:master') || stdout.includes('master_link_status:up');
      }, { timeoutMs: 20_000, what: `node ${node.port} in sync with its primary` });
    }
    const redisCli = async (port: number, ...args: string[]): Promise<string> =>
      (await run('redis-cli', ['-h', LOOPBACK, '-p', String(port), ...auth, ...args], { timeout: 5000 })).stdout;
    const killed = new Set<RedisServer>();
    const ownerOf = async (key: string, askAvoiding?: RedisServer): Promise<RedisServer> => {
      const asked = nodes.find((node) => node !== askAvoiding && !killed.has(node))!;
      const slot = Number(await redisCli(asked.port, 'cluster', 'keyslot', key));
      // CLUSTER NODES: "<id> <ip:port@bus> <flags> <primary id> <ping> <pong> <epoch> <link> <slot ranges…>"
      for (const line of (await redisCli(asked.port, 'cluster', 'nodes')).trim().split('\n')) {
        const [, address, flags, , , , , , ...ranges] = line.split(' ');
        if (!flags?.split(',').includes('master') || flags.includes('fail')) continue;
        const serves = ranges.some((range) => {
          const [first, last = first] = range.split('-').map(Number);
          return slot >= first! && slot <= last!;
        });
        if (serves) return nodes.find((node) => address?.startsWith(`${LOOPBACK}:${node.port}@`))!;
      }
      throw new Error(`no primary serves slot ${slot} of ${key}`);
    };
    return {
      nodes,
      seeds: addresses.join(','),
      cleanup,
      ownerOf: (key) => ownerOf(key),
      async replicaOf(primary) {
        const lines = (await redisCli(primary.port, 'cluster', 'nodes')).trim().split('\n').map((line) => line.split(' '));
        const primaryId = lines.find(([, , flags]) => flags?.includes('myself'))?.[0];
        const address = lines.find(([, , flags, master]) => flags?.includes('slave') && master === primaryId)?.[1];
        const replica = nodes.find((node) => address?.startsWith(`${LOOPBACK}:${node.port}@`));
        if (!replica) throw new Error(`no replica of node ${primary.port}`);
        return replica;
      },
      async awaitTakeover(key, failed) {
        killed.add(failed);
        let owner: RedisServer | undefined;
        await waitFor(async () => {
          owner = await ownerOf(key, failed).catch(() => undefined);
          if (!owner || owner === failed) return false;
          const infos = await Promise.all(nodes.filter((node) => !killed.has(node)).map((node) => clusterInfo(node.port)));
          return infos.every((info) => info.includes('cluster_state:ok'));
        }, { timeoutMs: 20_000, what: `another primary serving ${key}` });
        return owner!;
      },
      async logTail() {
        const tails = await Promise.all(nodes.map(async (node) => `--- node ${node.port} ---\n${(await node.logTail()).slice(-600)}`));
        return tails.join('\n');
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
