// Real `mailpush` processes, spawned from the built CLI, for tests that kill and restart them.
//
// None outlives the test process: each is killed by the kernel when the test process dies
// (setpriv --pdeathsig, see daemon.ts), and SIGKILLed by an exit hook otherwise.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withDeathSignal } from './daemon.js';
import { BIND_ATTEMPTS, freePort, isAddressInUse } from './ports.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const running = new Set<ChildProcess>();
process.once('exit', () => running.forEach((child) => child.kill('SIGKILL')));

export type MailpushRole = 'web' | 'worker' | 'all';

export interface MailpushProcess {
  role: MailpushRole;
  pid: number;
  /** Base URL of a web or all process. */
  url?: string;
  /** METRICS_PORT, when started with `metrics: true`. */
  metricsPort?: number;
  /** The worker id it logged at start, for worker and all processes. */
  workerId?: string;
  /** Parsed JSON log lines. */
  logs: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): Promise<void>;
  /** The last log lines and stderr, for a failure message. */
  logTail(): string;
}

export interface SpawnMailpushOptions {
  /** Listen there (a restart on the same address, so browsers keep their origin). */
  port?: number;
  /** Also serve /metrics and the probes on a port of their own (METRICS_PORT). */
  metrics?: boolean;
  /**
   * How long it may take to log that it started before it is killed (20 s): a worker logs it
   * after its first claim of free accounts, which for a benchmark's 10,000 takes longer.
   */
  startTimeoutMs?: number;
}

class AddressInUse extends Error {}

/**
 * Starts `mailpush <role>` and resolves once it logged that it listens (web, all) or that the
 * worker started. Ports it is given are chosen by freePort(); if one was taken meanwhile, it is
 * started again on new ones (not when `port` was asked for: that one is the point).
 */
export async function spawnMailpush(role: MailpushRole, env: Record<string, string>, options: SpawnMailpushOptions = {}): Promise<MailpushProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnOnce(role, env, options);
    } catch (error) {
      if (!(error instanceof AddressInUse) || attempt >= BIND_ATTEMPTS || options.port !== undefined) throw error;
    }
  }
}

async function spawnOnce(role: MailpushRole, env: Record<string, string>, options: SpawnMailpushOptions): Promise<MailpushProcess> {
  const port = role === 'worker' ? undefined : options.port ?? (await freePort());
  const metricsPort = options.metrics ? await freePort() : undefined;
  const child = spawn(...withDeathSignal(process.execPath, [cli, role]), {
    env: {
      PATH: process.env.PATH ?? '',
      ...env,
      ...(port ? { PORT: String(port), HOST: '127.0.0.1' } : {}),
      ...(metricsPort ? { METRICS_PORT: String(metricsPort) } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const logTail = () => `--- mailpush ${role} log ---\n${logs.slice(-20).map((l) => JSON.stringify(l)).join('\n')}\n--- stderr ---\n${stderr.slice(-2000)}`;
  let buffered = '';
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    const want = role === 'worker' ? 'worker started' : 'listening';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === want) resolve(entry);
        } catch {
          // not JSON: ignore
        }
      }
    });
    void exited.then(({ code, signal }) => {
      const message = `mailpush ${role} exited with ${code ?? signal} before starting\n${logTail()}`;
      reject(isAddressInUse(stderr + JSON.stringify(logs)) ? new AddressInUse(message) : new Error(message));
    });
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), options.startTimeoutMs ?? 20_000);
  await started.finally(() => clearTimeout(timeout));
  const workerEntry = logs.find((l) => l.msg === 'worker started');
  return {
    role,
    pid: child.pid!,
    ...(port ? { url: `http://127.0.0.1:${port}` } : {}),
    ...(metricsPort ? { metricsPort } : {}),
    ...(workerEntry ? { workerId: String(workerEntry.workerId) } : {}),
    logs,
    exited,
    logTail,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}
