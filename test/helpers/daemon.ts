// Runs a server binary (redis-server, dovecot) in the foreground as a child of
// the test process and makes sure it does not outlive it.
//
// Three layers of protection against leaked servers:
//  1. `setpriv --pdeathsig TERM` (util-linux): the kernel sends SIGTERM to the
//     server when the test process dies for ANY reason, including SIGKILL or a
//     crash, where no JavaScript runs. setpriv exec()s the server, so the pid we
//     get is the server's own pid and our signals reach it directly.
//  2. A process 'exit' handler that SIGTERMs every daemon still running, for
//     the (normal) case that a test forgot to call cleanup().
//  3. Fixtures stop their daemons explicitly in cleanup()/stop().
// SIGTERM (not SIGKILL) is used everywhere so Dovecot's master can take its
// own child processes down with it.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { withTimeout } from './wait.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Daemon {
  readonly pid: number;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  isRunning(): boolean;
  /**
   * Sends `signal` (default SIGTERM) and waits for the exit. If the process
   * is still alive after `timeoutMs`, it is SIGKILLed.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitInfo>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; kill() is.
  process.on('exit', () => {
    for (const child of running) child.kill('SIGTERM');
  });
}

function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(path.delimiter)) {
    const candidate = path.join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

const setpriv = findOnPath('setpriv');

/**
 * Spawns `command args...` with stdin from /dev/null and stdout+stderr
 * appended to `logFile`. A file rather than a pipe: the server can never block
 * on a full pipe, and its output survives for post-mortems.
 * Resolves once the process has been created (rejects if it could not be).
 */
export async function spawnDaemon(command: string, args: string[], logFile: string): Promise<Daemon> {
  installExitHook();
  const logFd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    const options: SpawnOptions = { stdio: ['ignore', logFd, logFd], detached: true };
    child = setpriv
      ? spawn(setpriv, ['--pdeathsig', 'TERM', '--', command, ...args], options)
      : spawn(command, args, options);
  } finally {
    closeSync(logFd); // the child has its own copy
  }

  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`failed to spawn ${command}`);

  running.add(child);
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  // A daemon must not keep the test process alive on its own: if a test
  // forgets cleanup(), the process still exits and the exit hook stops it.
  child.unref();

  let alive = true;
  void exited.then(() => {
    alive = false;
  });

  return {
    pid,
    exited,
    isRunning: () => alive,
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitInfo> {
      if (!alive) return exited;
      // While we are waiting for it, the exit must keep the event loop alive.
      child.ref();
      child.kill(signal);
      try {
        return await withTimeout(exited, timeoutMs, `${command} (pid ${pid}) to exit after ${signal}`);
      } catch {
        child.kill('SIGKILL');
        return exited;
      }
    },
  };
}

/** Every live process below `pid` (children, their children, ...), read from /proc. */
export function descendantPids(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces, so split after ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // the process ended while we looked
    }
  }
  const found: number[] = [];
  let frontier = [pid];
  while (frontier.length) {
    const next: number[] = [];
    for (const [child, parent] of parentOf) if (frontier.includes(parent)) next.push(child);
    found.push(...next);
    frontier = next;
  }
  return found;
}
