// A real, private redis-server per test file.
//
// Each server gets its own temp dir and a free loopback port (never 6379, where
// a system Redis may be running), so tests can FLUSHALL, restart or kill it
// without touching anything else.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnDaemon, type Daemon } from './daemon.js';
import { BIND_ATTEMPTS, freePort, isAddressInUse, LOOPBACK } from './ports.js';
import { waitFor } from './wait.js';

export interface RedisServer {
  /** e.g. redis://127.0.0.1:41234 */
  readonly url: string;
  readonly port: number;
  /** Working dir: AOF / RDB files and redis.log live here. */
  readonly dir: string;
  /** Starts the server again after stop()/kill(); no-op while running. */
  start(): Promise<void>;
  /** Graceful shutdown (SIGTERM) and wait for the exit. */
  stop(): Promise<void>;
  /** Crash simulation: SIGKILL, no shutdown hooks, wait for the exit. */
  kill(): Promise<void>;
  /**
   * SIGSTOP: the server stays up but answers nothing (a hung host), until thaw() (SIGCONT). A
   * replica frozen this way receives no replication, which lets a test lose writes on purpose.
   */
  freeze(): void;
  thaw(): void;
  /** stop() then start() on the same port and dir, so AOF data survives. */
  restart(): Promise<void>;
  /** stop() and remove the temp dir. */
  cleanup(): Promise<void>;
  /** The end of redis.log, for a failure message. */
  logTail(): Promise<string>;
}

export interface StartRedisOptions {
  /** Enable the append-only file (default false). */
  appendOnly?: boolean;
  /** More redis-server arguments, e.g. RECOMMENDED_REDIS_ARGS. */
  args?: string[];
}

/**
 * What docker-compose.yml and the README recommend running Redis with: smaller stream nodes, so
 * each user's event log starts at 2 KiB instead of 4 (the benchmarks use it; a test checks the
 * compose file does).
 */
export const RECOMMENDED_REDIS_ARGS = ['--stream-node-max-bytes', '2048'];

/** One RESP PING over a raw socket: true only for "+PONG" (not "-LOADING"). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: LOOPBACK, port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setEncoding('latin1');
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const appendOnly = options.appendOnly ?? false;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mailpush-redis-'));
  // Chosen again if the first start finds it taken; kept for restarts.
  let port = await freePort();
  const logFile = path.join(dir, 'redis.log');

  const args = () => [
    '--port', String(port),
    '--bind', LOOPBACK,
    '--dir', dir,
    '--daemonize', 'no',
    '--logfile', '', // log to stdout, which spawnDaemon appends to redis.log
    '--save', '', // no RDB snapshots: durability comes only from the AOF, if enabled
    '--appendonly', appendOnly ? 'yes' : 'no',
    // fsync every write: a test that SIGKILLs the server right after an
    // acknowledged write must find that write again, deterministically.
    ...(appendOnly ? ['--appendfsync', 'always'] : []),
    ...(options.args ?? []),
  ];

  let daemon: Daemon | undefined;

  async function start(): Promise<void> {
    if (daemon?.isRunning()) return;
    const current = await spawnDaemon('redis-server', args(), logFile);
    daemon = current;
    try {
      await waitFor(
        async () => {
          if (!current.isRunning()) throw new Error('redis-server exited during startup');
          return ping(port);
        },
        { timeoutMs: 10_000, what: `redis-server on port ${port} to answer PING` },
      );
    } catch (err) {
      await current.stop('SIGKILL');
      throw new Error(`${(err as Error).message}\n--- redis.log ---\n${await logTail()}`);
    }
  }

  async function logTail(): Promise<string> {
    return (await readFile(logFile, 'utf8').catch(() => '')).slice(-2000);
  }

  async function halt(signal: NodeJS.Signals): Promise<void> {
    if (!daemon) return;
    await daemon.stop(signal);
  }

  // The first start: a port taken between freePort() and the bind is replaced;
  // any other failure removes the temp dir.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      if (attempt >= BIND_ATTEMPTS || !isAddressInUse(await logTail())) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      port = await freePort();
      await writeFile(logFile, '');
    }
  }

  return {
    url: `redis://${LOOPBACK}:${port}`,
    port,
    dir,
    start,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    freeze: () => daemon?.isRunning() && process.kill(daemon.pid, 'SIGSTOP'),
    thaw: () => daemon?.isRunning() && process.kill(daemon.pid, 'SIGCONT'),
    async restart() {
      await halt('SIGTERM');
      await start();
    },
    async cleanup() {
      await halt('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
    logTail,
  };
}
