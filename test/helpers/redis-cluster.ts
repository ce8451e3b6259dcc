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
}

export interface StartRedisClusterOptions {
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
          '--cluster-port', String(busPort),
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
    return {
      nodes,
      seeds: addresses.join(','),
      cleanup,
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
