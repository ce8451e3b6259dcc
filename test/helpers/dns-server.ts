// A real DNS server on loopback for discovery tests: Debian's dnsmasq, unprivileged port, no
// upstream (a name it has no record for is refused, as an unreachable domain would be), and every
// query logged, so a test can count what the gateway asked.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnDaemon, type Daemon } from './daemon.js';
import { BIND_ATTEMPTS, freePort, isPortOpen, LOOPBACK } from './ports.js';
import { waitFor } from './wait.js';

export interface DnsRecords {
  /** domain → MX host names (preference in list order). */
  mx?: Record<string, string[]>;
  /** `_imaps._tcp.example.test` → target and port; a null target answers "." (no service). */
  srv?: Record<string, Array<{ target: string | null; port?: number; priority?: number; weight?: number }>>;
  /** host → IPv4 address. */
  a?: Record<string, string>;
}

export interface DnsServer {
  /** For DNS_SERVERS: 127.0.0.1:port */
  readonly address: string;
  /** Queries logged so far for `name` (any type), oldest first, e.g. ["MX", "SRV"]. */
  queries(name: string): Promise<string[]>;
  cleanup(): Promise<void>;
  logTail(): Promise<string>;
}

function args(port: number, records: DnsRecords): string[] {
  const list = [
    '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--no-poll', '--pid-file=',
    `--port=${port}`, `--listen-address=${LOOPBACK}`, '--bind-interfaces', `--user=${os.userInfo().username}`,
    '--log-queries', '--log-facility=-', '--cache-size=0',
  ];
  for (const [domain, hosts] of Object.entries(records.mx ?? {})) {
    hosts.forEach((host, i) => list.push(`--mx-host=${domain},${host},${10 * (i + 1)}`));
  }
  for (const [name, targets] of Object.entries(records.srv ?? {})) {
    for (const t of targets) {
      list.push(t.target === null ? `--srv-host=${name}` : `--srv-host=${name},${t.target},${t.port ?? 0},${t.priority ?? 0},${t.weight ?? 0}`);
    }
  }
  for (const [host, address] of Object.entries(records.a ?? {})) list.push(`--host-record=${host},${address}`);
  return list;
}

export async function startDnsServer(records: DnsRecords): Promise<DnsServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mailpush-dns-'));
  const logFile = path.join(dir, 'dnsmasq.log');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const daemon: Daemon = await spawnDaemon('dnsmasq', args(port, records), logFile);
    const listening = await waitFor(async () => (await isPortOpen(port)) || !daemon.isRunning(), { timeoutMs: 10_000, what: 'dnsmasq to listen' })
      .then(() => daemon.isRunning());
    if (!listening) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      if (/in use/i.test(log) && attempt < BIND_ATTEMPTS) continue;
      throw new Error(`dnsmasq did not start: ${log.slice(-2000)}`);
    }
    return {
      address: `${LOOPBACK}:${port}`,
      async queries(name) {
        const log = await readFile(logFile, 'utf8');
        const wanted = name.toLowerCase();
        return [...log.matchAll(/query\[([A-Z0-9]+)\] (\S+) from/g)].filter((m) => m[2]!.toLowerCase() === wanted).map((m) => m[1]!);
      },
      async cleanup() {
        await daemon.stop();
        await rm(dir, { recursive: true, force: true });
      },
      logTail: async () => (await readFile(logFile, 'utf8').catch(() => '')).slice(-3000),
    };
  }
}
