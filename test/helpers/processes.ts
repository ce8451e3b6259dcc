// Real `mailpush` processes, spawned from the built CLI, for tests that kill and restart them.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const running = new Set<ChildProcess>();
process.once('exit', () => running.forEach((child) => child.kill('SIGKILL')));

export interface MailpushProcess {
  role: 'web' | 'worker' | 'all';
  pid: number;
  /** Base URL of a web or all process. */
  url?: string;
  /** The worker id it logged at start, for worker and all processes. */
  workerId?: string;
  /** Parsed JSON log lines. */
  logs: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function spawnMailpush(
  role: 'web' | 'worker' | 'all',
  env: Record<string, string>,
  /** `port`: listen there (a restart on the same address, so browsers keep their origin). */
  options: { port?: number } = {},
): Promise<MailpushProcess> {
  const port = role === 'worker' ? undefined : options.port ?? (await freePort());
  const child = spawn(process.execPath, [cli, role], {
    env: { PATH: process.env.PATH ?? '', ...env, ...(port ? { PORT: String(port), HOST: '127.0.0.1' } : {}) },
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
    void exited.then(({ code }) => reject(new Error(`mailpush ${role} exited with ${code} before starting: ${stderr}`)));
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await started.finally(() => clearTimeout(timeout));
  const workerEntry = logs.find((l) => l.msg === 'worker started');
  return {
    role,
    pid: child.pid!,
    ...(port ? { url: `http://127.0.0.1:${port}` } : {}),
    ...(workerEntry ? { workerId: String(workerEntry.workerId) } : {}),
    logs,
    exited,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}
