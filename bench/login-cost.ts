// npm run bench:login-cost — what one IMAP login costs in CPU, on our side and on Dovecot's, by
// Dovecot process: the worker's connectImap() and its SELECT of INBOX, 20 at a time, against the
// bench Dovecot (TLS by default), without Redis or the rest of the worker. A cold start of 10,000
// accounts is this times 10,000 plus the worker's own bookkeeping; on a machine that also runs the
// IMAP server, the sum of both sides over the cores is the floor of its duration.
//
// Each run logs every user in twice and measures the second time (BENCH_LOGIN_WARM=0: the first),
// as a worker restart does: the first login of a new mailbox also makes Dovecot create its files.

import { readFileSync } from 'node:fs';
import { loadConfig } from '../src/config.js';
import { connectImap } from '../src/imap/client.js';
import { HostLimiter } from '../src/imap/host-limiter.js';
import { openMailbox } from '../src/imap/lean-imapflow.js';
import type { ImapFlow } from 'imapflow';
import { BENCH_SECRET, BENCH_TRANSPORT, benchImap, Cleanup, startBenchDovecot } from './lib/fixtures.js';
import { cpuSeconds, dovecotMaster, groupPids } from './lib/proc.js';
import { fmt, machine, table } from './lib/report.js';

const LOGINS = Number(process.env.BENCH_LOGINS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONNECT_CONCURRENCY ?? 20);
const WARM = process.env.BENCH_LOGIN_WARM !== '0';
/** BENCH_LOGIN_LIST=1: SELECT as imapflow does by itself, after a LIST and an LSUB of the mailbox (the worker skips them). */
const LIST_FIRST = process.env.BENCH_LOGIN_LIST === '1';

/** CPU seconds of each kind of Dovecot process (imap-login, imap, auth, …), summed over its processes. */
function dovecotCpuByKind(pgid: number): Map<string, number> {
  const byKind = new Map<string, number>();
  for (const pid of groupPids(pgid)) {
    try {
      const kind = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.replace(/^.*\//, '') || 'dovecot';
      byKind.set(kind, (byKind.get(kind) ?? 0) + cpuSeconds(pid));
    } catch {
      // gone meanwhile
    }
  }
  return byKind;
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  try {
    console.log(`\nLogin cost — ${machine()}`);
    const { dovecot, users } = await startBenchDovecot(LOGINS, { prefix: 'l' });
    cleanup.add('dovecot', () => dovecot.cleanup());
    const imap = benchImap(dovecot);
    const config = loadConfig({
      REDIS_URL: 'redis://127.0.0.1:1', MAILPUSH_SECRET: BENCH_SECRET, IMAP_ALLOW_PRIVATE: 'true', IMAP_ALLOW_INSECURE: 'true',
      IMAP_ALLOWED_PORTS: String(imap.port), ...(imap.caFile ? { IMAP_TLS_CA_FILE: imap.caFile } : {}),
      ...(process.env.IMAP_TLS_GROUPS ? { IMAP_TLS_GROUPS: process.env.IMAP_TLS_GROUPS } : {}),
    });
    const options = { config, limiter: new HostLimiter(CONCURRENCY) };
    const pass = async (): Promise<ImapFlow[]> => {
      const clients: ImapFlow[] = [];
      let next = 0;
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next < users.length) {
          const user = users[next++]!;
          const client = await connectImap({ host: dovecot.host, port: imap.port, security: imap.security, user: user.user }, user.pass, options, { qresync: true });
          client.on('error', () => undefined);
          await (LIST_FIRST ? client.mailboxOpen('INBOX') : openMailbox(client, 'INBOX'));
          clients.push(client);
        }
      }));
      return clients;
    };
    if (WARM) for (const client of await pass()) await client.logout();
    const pgid = dovecotMaster(dovecot.dir);
    const dovecotBefore = dovecotCpuByKind(pgid);
    const ownBefore = process.cpuUsage();
    const started = performance.now();
    const clients = await pass();
    const seconds = (performance.now() - started) / 1000;
    const own = process.cpuUsage(ownBefore);
    const dovecotAfter = dovecotCpuByKind(pgid);
    cleanup.add('connections', () => clients.forEach((client) => client.close()));

    const perLogin = (cpuSeconds: number) => fmt((cpuSeconds / LOGINS) * 1000, 2);
    const rows: string[][] = [['mailpush (connectImap + SELECT, this process)', perLogin((own.user + own.system) / 1e6)]];
    let dovecotTotal = 0;
    for (const [kind, after] of [...dovecotAfter].sort((a, b) => b[1] - a[1])) {
      const used = after - (dovecotBefore.get(kind) ?? 0);
      dovecotTotal += used;
      if (used > 0) rows.push([`Dovecot ${kind}`, perLogin(used)]);
    }
    rows.push(['Dovecot, all processes', perLogin(dovecotTotal)]);
    console.log(`  ${LOGINS} ${WARM ? 'repeat' : 'first'} logins over ${BENCH_TRANSPORT === 'tls' ? 'TLS' : 'plaintext'}, ${CONCURRENCY} at a time, ${process.env.IMAP_TLS_GROUPS ? `IMAP_TLS_GROUPS ${process.env.IMAP_TLS_GROUPS}` : 'default groups'}${LIST_FIRST ? ', LIST and LSUB before each SELECT' : ''}: ${fmt(seconds)} s (${fmt(LOGINS / seconds, 0)} a second)`);
    console.log(table(['CPU per login', 'ms'], rows));
  } finally {
    await cleanup.run();
  }
}

await main();
