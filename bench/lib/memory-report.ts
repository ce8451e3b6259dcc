// Preloaded into the scale bench's worker (NODE_OPTIONS=--import …): on SIGUSR2 it writes where the
// process's memory is (process.memoryUsage(), V8 heap spaces) and what it holds open (handles and
// timers by kind) to BENCH_MEMORY_FILE, so the bench can split RSS per account into JavaScript
// heap, Buffers and native memory (OpenSSL, libuv, malloc) without a debugger attached. With
// BENCH_HEAP_SNAPSHOT_DIR set it also writes a V8 heap snapshot there each time (slow, and as big as
// the heap: use it with a few hundred or thousand accounts, not 10,000). It also lists the garbage
// collections of the last while (when, which kind, the main thread's pause), so the bench can say
// how many major collections fell in a window whose CPU it measured.

import { writeFileSync } from 'node:fs';
import { constants, PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import path from 'node:path';

const file = process.env.BENCH_MEMORY_FILE;
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
/** [epoch ms, kind, main-thread pause ms], the last GC_KEPT collections. */
const gcs: Array<[number, string, number]> = [];
const GC_KEPT = 20_000;
if (file) {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcs.push([performance.timeOrigin + entry.startTime, GC_KINDS[(entry as unknown as { detail: { kind: number } }).detail.kind] ?? 'other', entry.duration]);
    }
    if (gcs.length > GC_KEPT) gcs.splice(0, gcs.length - GC_KEPT);
  }).observe({ entryTypes: ['gc'] });
  process.on('SIGUSR2', () => {
    const resources: Record<string, number> = {};
    for (const kind of process.getActiveResourcesInfo()) resources[kind] = (resources[kind] ?? 0) + 1;
    const statistics = getHeapSpaceStatistics();
    const spaces = Object.fromEntries(statistics.map((s) => [s.space_name, s.space_used_size]));
    // What each space holds in memory pages, used or not (pages V8 keeps for reuse outside the
    // spaces are in neither figure, only in RSS).
    const physical = Object.fromEntries(statistics.map((s) => [s.space_name, s.physical_space_size]));
    const snapshotDir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
    if (snapshotDir) writeHeapSnapshot(path.join(snapshotDir, `worker-${process.pid}-${Date.now()}.heapsnapshot`));
    writeFileSync(file, JSON.stringify({ memory: process.memoryUsage(), spaces, physical, resources, gcs }));
  });
}
