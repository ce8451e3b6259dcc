// Preloaded into the scale bench's worker (NODE_OPTIONS=--import …): on SIGUSR2 it writes where the
// process's memory is (process.memoryUsage(), V8 heap spaces) and what it holds open (handles and
// timers by kind) to BENCH_MEMORY_FILE, so the bench can split RSS per account into JavaScript
// heap, Buffers and native memory (OpenSSL, libuv, malloc) without a debugger attached. With
// BENCH_HEAP_SNAPSHOT_DIR set it also writes a V8 heap snapshot there each time (slow, and as big as
// the heap: use it with a few hundred or thousand accounts, not 10,000).

import { writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import path from 'node:path';

const file = process.env.BENCH_MEMORY_FILE;
if (file) {
  process.on('SIGUSR2', () => {
    const resources: Record<string, number> = {};
    for (const kind of process.getActiveResourcesInfo()) resources[kind] = (resources[kind] ?? 0) + 1;
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
    const snapshotDir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
    if (snapshotDir) writeHeapSnapshot(path.join(snapshotDir, `worker-${process.pid}-${Date.now()}.heapsnapshot`));
    writeFileSync(file, JSON.stringify({ memory: process.memoryUsage(), spaces, resources }));
  });
}
