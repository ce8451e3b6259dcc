// Write throughput of the embedded event log (DATA_DIR's SQLite), as the worker drives it: one
// append per new mail (lease check, watermark compare-and-set, insert, retention trim, one
// transaction, synchronous = FULL), from one caller, in a fresh DATA_DIR under $TMPDIR.
//   npm run build && node bench/embedded-log.mjs [checkout, default: this one] [appends, default 3000]
// With the checkout of an older commit it measures that commit's adapter (docs/benchmarks.md
// compares better-sqlite3 at 4de5838 with node:sqlite).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const checkout = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url));
const appends = Number(process.argv[3] ?? 3000);
const { createEmbeddedAdapters } = await import(pathToFileURL(path.join(checkout, 'dist/src/adapters/embedded.js')).href);

async function run(label, batch) {
  const dir = mkdtempSync(path.join(tmpdir(), 'mailpush-bench-'));
  const adapters = createEmbeddedAdapters({ dataDir: dir, events: { batchSize: 25, retentionCount: 1000, retentionMs: 7 * 86400_000 } });
  const userId = await adapters.users.create(`hash-${label}`);
  const lease = await adapters.leases.acquire({ userId, accountId: 'acc_bench' }, 'bench', 600_000);
  const latencies = [];
  let expected;
  const started = process.hrtime.bigint();
  for (let i = 1; i <= appends; i++) {
    const next = { uidValidity: '1', lastUid: i * batch };
    const events = Array.from({ length: batch }, (_, j) => ({
      type: 'mail.new', accountId: 'acc_bench', mailbox: 'INBOX', time: new Date().toISOString(),
      data: { uid: i * batch + j, from: 'Someone <someone@example.test>', subject: `Message ${i}`, snippet: 'x'.repeat(200) },
    }));
    const t0 = process.hrtime.bigint();
    const result = await adapters.eventLog.append({ lease, events, watermark: { mailbox: 'INBOX', expected, next } });
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (!result.ok) throw new Error(result.reason);
    expected = next;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await adapters.close();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(2);
  console.log(`${label.padEnd(28)} ${String(Math.round(appends / seconds)).padStart(7)} appends/s ${String(Math.round((appends * batch) / seconds)).padStart(8)} events/s   p50 ${at(0.5)} ms  p99 ${at(0.99)} ms`);
}

console.log(`node ${process.version}, ${appends} appends each, checkout ${checkout}`);
await run('1 event per append', 1);
await run('25 events per append', 25);
