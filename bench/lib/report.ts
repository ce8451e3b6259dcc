// What every benchmark prints: the machine it ran on, and markdown tables that can be pasted into
// docs/benchmarks.md as they are.

import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

function version(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0] ?? '?';
  } catch {
    return 'not found';
  }
}

export function machine(): string {
  const dovecot = version('dovecot', ['--version']);
  const redis = /v=(\S+)/.exec(version('redis-server', ['--version']))?.[1] ?? '?';
  return [
    `${new Date().toISOString().slice(0, 10)}`,
    `${cpus().length} cores (${cpus()[0]?.model.trim() ?? '?'})`,
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `Node.js ${process.version}`,
    `Dovecot ${dovecot}`,
    `Redis ${redis}`,
  ].join(', ');
}

export function table(headers: string[], rows: Array<Array<string | number>>, align?: Array<'l' | 'r'>): string {
  const sep = headers.map((_, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'r' ? '---:' : '---'));
  return [headers, sep, ...rows.map((r) => r.map(String))].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** `value` formatted with `digits` decimals, or "—" for NaN. */
export function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '—';
}

export function kib(bytes: number): string {
  return `${fmt(bytes / 1024, 1)} KiB`;
}

/** "met" when `ok`, "**missed**" otherwise, for goal columns. */
export function verdict(ok: boolean): string {
  return ok ? 'met' : '**missed**';
}
