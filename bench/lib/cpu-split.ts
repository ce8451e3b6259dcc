// Where the processes of a bench may run. On this 2-core machine every bench puts Dovecot, the
// processes delivering mail to it (standing in for the MTA), Redis and mailpush on the same cores,
// which no deployment does: the mail server has its own machine. For a bench that measures how
// fast the web process answers while Dovecot is busy delivering (bench:hook-burst), that sharing
// is the whole result: with 20 LMTP deliveries in flight the web process waits for a core, not for
// its own work. So such a bench pins the mail side to one half of the cores and mailpush with its
// Redis to the other (`taskset`, inherited by every process Dovecot forks later), unless
// BENCH_CPU_SPLIT=0 asks for the shared worst case.

import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { groupPids } from './proc.js';

export const CPU_SPLIT = process.env.BENCH_CPU_SPLIT !== '0' && availableParallelism() >= 2;

export interface CpuSides {
  /** Process groups of the mail server side (Dovecot's master: its children follow). */
  mailServerGroups: number[];
  /** Single processes of the mail server side (the bench itself, which delivers over LMTP). */
  mailServerPids: number[];
  /** mailpush's processes and its Redis. */
  gatewayPids: number[];
}

/** Pins each side to its half of the cores; returns a line saying what it did, for the report. */
export function splitCpus(sides: CpuSides): string {
  if (!CPU_SPLIT) return 'CPUs shared by everything (BENCH_CPU_SPLIT=0)';
  const cores = availableParallelism();
  const half = Math.floor(cores / 2);
  const gateway = `0-${half - 1}`;
  const mail = `${half}-${cores - 1}`;
  const pin = (pid: number, list: string) => {
    try {
      // -a: every thread (libuv's pool, V8's helpers), not only the main one.
      execFileSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' });
    } catch {
      // gone meanwhile
    }
  };
  for (const pgid of sides.mailServerGroups) for (const pid of groupPids(pgid)) pin(pid, mail);
  for (const pid of sides.mailServerPids) pin(pid, mail);
  for (const pid of sides.gatewayPids) pin(pid, gateway);
  return `CPUs split: Dovecot and the LMTP sender on ${mail}, mailpush and Redis on ${gateway} (BENCH_CPU_SPLIT=0 shares them)`;
}
