// Runs a server binary (redis-server, dovecot) in the foreground as a child of
// the test process, in its own process group, and makes sure neither it nor
// any process it forks outlives the test.
//
// Why a process group: Dovecot's master does NOT take logged-in IMAP sessions
// down when it gets SIGTERM. They only notice the master is gone once they are
// idle, so a client connected to an "stopped" Dovecot would keep being served.
// Signalling the whole group (kill(-pgid)) reaches the master and every
// process it forked at once, which is what a test means by "stop the server".
//
// Protection against leaks, in layers:
//  1. `setpriv --pdeathsig TERM` (util-linux): the kernel sends SIGTERM to the
//     server when the test process dies for ANY reason, including SIGKILL or a
//     crash, where no JavaScript runs. setpriv exec()s the server, so the pid we
//     get is the server's own pid (and the process group id).
//  2. A process 'exit' handler that SIGTERMs every group still running, for
//     the (normal) case that a test forgot to call cleanup().
//  3. Fixtures stop their daemons explicitly in stop()/cleanup().
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, closeSync, constants, openSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { waitFor } from './wait.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Daemon {
  /** Pid of the server, also its process group id. */
  readonly pid: number;
  /** Settles when the server process itself has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  isRunning(): boolean;
  /**
   * Sends `signal` (default SIGTERM) to the whole process group and waits
   * until no process of the group is left. Anything still alive after
   * `timeoutMs` is SIGKILLed.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitInfo>;
}

const runningGroups = new Set<number>();
let exitHookInstalled = false;

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // group already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; process.kill() is.
  process.on('exit', () => {
    for (const pgid of runningGroups) signalGroup(pgid, 'SIGTERM');
  });
}

/**
 * True while any non-zombie process is in process group `pgid` (Linux /proc).
 * Zombies are skipped: orphaned children are reaped by init, whenever it gets
 * to it, and a zombie holds no sockets.
 */
async function groupHasLiveProcesses(pgid: number): Promise<boolean> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parens.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') return true;
  }
  return false;
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
 * `command args` wrapped so that the kernel sends it SIGTERM when the test
 * process dies for any reason (setpriv --pdeathsig; unwrapped without setpriv).
 */
export function withDeathSignal(command: string, args: string[]): [string, string[]] {
  return setpriv ? [setpriv, ['--pdeathsig', 'TERM', '--', command, ...args]] : [command, args];
}

/**
 * Spawns `command args...` in a new process group, with stdin from /dev/null
 * and stdout+stderr appended to `logFile`. A file rather than a pipe: the
 * server can never block on a full pipe, and its output survives for
 * post-mortems. Resolves once the process has been created.
 */
export async function spawnDaemon(command: string, args: string[], logFile: string): Promise<Daemon> {
  installExitHook();
  const logFd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // detached: setsid() in the child, i.e. a new session and process group.
    const options: SpawnOptions = { stdio: ['ignore', logFd, logFd], detached: true };
    child = spawn(...withDeathSignal(command, args), options);
  } finally {
    closeSync(logFd); // the child has its own copy
  }

  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`failed to spawn ${command}`);

  runningGroups.add(pid);
  let alive = true;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      resolve({ code, signal });
    });
  });
  // A daemon must not keep the test process alive on its own: if a test
  // forgets cleanup(), the process still exits and the exit hook stops it.
  child.unref();

  return {
    pid,
    exited,
    isRunning: () => alive,
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitInfo> {
      if (!runningGroups.has(pid)) return exited;
      // While we are waiting for it, the exit must keep the event loop alive.
      child.ref();
      signalGroup(pid, signal);
      const gone = async (): Promise<boolean> => !alive && !(await groupHasLiveProcesses(pid));
      try {
        await waitFor(gone, { timeoutMs, intervalMs: 20, what: `${command} (process group ${pid}) to exit` });
      } catch {
        signalGroup(pid, 'SIGKILL');
        await waitFor(gone, { timeoutMs: 5000, intervalMs: 20, what: `${command} (process group ${pid}) to die` });
      }
      runningGroups.delete(pid);
      return exited;
    },
  };
}
