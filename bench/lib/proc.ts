// Resident memory and CPU time of a process (and of a whole process group), read from /proc, so
// the process measured never runs any measuring code of its own.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const TICKS = 100; // USER_HZ on Linux

/** Resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** User + system CPU seconds used so far. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuSplit(pid);
  return user + system;
}

/** CPU seconds used so far in the process's own code (user) and in the kernel on its behalf (system). */
export function cpuSplit(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / TICKS, system: Number(fields[12]) / TICKS };
}

/**
 * Read and write system calls made so far (syscr, syscw of /proc/<pid>/io): every socket write a
 * TLS record or a Redis pipeline costs is one, and on this virtual machine each is tens of
 * microseconds of loopback TCP (the receiver's side runs in the same call).
 */
export function syscallCounts(pid: number): { reads: number; writes: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(io)?.[1] ?? 0);
  return { reads: field('syscr'), writes: field('syscw') };
}

/**
 * The machine's CPU seconds so far, all cores together: busy (user, nice, system, irq, softirq) and
 * stolen (a virtual machine's CPUs given to other guests while it wanted them). Stolen time makes
 * a CPU-bound run slower with no change in the code.
 */
export function machineCpuSeconds(): { busy: number; stolen: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return { busy: (user + nice + system + irq + softirq) / TICKS, stolen: steal / TICKS };
}

/** TCP keepalive probes this machine (network namespace) has sent so far: TcpExt TCPKeepAlive. */
export function tcpKeepaliveProbes(): number {
  // Two lines start with "TcpExt:": the counters' names, then their values.
  const [names = [], values = []] = readFileSync('/proc/net/netstat', 'utf8').split('\n')
    .filter((line) => line.startsWith('TcpExt:')).map((line) => line.split(/\s+/));
  return Number(values[names.indexOf('TCPKeepAlive')] ?? 0);
}

/** Pids of every live process in process group `pgid`. */
export function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Sum of RSS and CPU seconds (and of them, the kernel's) over a process group (e.g. Dovecot and all its children). */
export function groupUsage(pgid: number): { rss: number; cpu: number; system: number; processes: number } {
  let rss = 0;
  let cpu = 0;
  let system = 0;
  const pids = groupPids(pgid);
  for (const pid of pids) {
    try {
      rss += rssBytes(pid);
      const split = cpuSplit(pid);
      cpu += split.user + split.system;
      system += split.system;
    } catch {
      // gone meanwhile
    }
  }
  return { rss, cpu, system, processes: pids.length };
}

/** CPU used by `pid` over `ms`, as a percentage of one core. */
export async function cpuPercent(pid: number | (() => number), ms: number): Promise<number> {
  const read = typeof pid === 'number' ? () => cpuSeconds(pid) : pid;
  const before = read();
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ((read() - before) / ((performance.now() - start) / 1000)) * 100;
}

/**
 * CPU seconds used so far by each kind of thread of `pid`, by thread name, trailing digits dropped
 * ("MainThread" runs all JavaScript; "V8Worker" is V8's helpers for garbage collection and
 * compiling; libuv's pool has its own name), so an idle process's CPU can be split into what a
 * JavaScript profile sees and what it does not.
 */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '').trim();
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      byName.set(name, (byName.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / TICKS);
    } catch {
      // the thread ended meanwhile
    }
  }
  return byName;
}

/** The pid of a test Dovecot's master, which leads the process group of all its processes. */
export function dovecotMaster(dir: string): number {
  return Number(readFileSync(path.join(dir, 'run', 'master.pid'), 'utf8').trim());
}
