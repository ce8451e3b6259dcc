// Which malloc this process runs on, and where jemalloc is installed if it is; and the V8 options
// a worker should run with, for the same reason: memory per mailbox.
//
// Why a worker cares: each idle TLS connection keeps many small OpenSSL blocks from its
// handshake, scattered between the blocks the handshake freed. glibc's malloc cannot hand those
// holes back, and they cost about 6 KiB per mailbox; jemalloc, which groups blocks by size,
// leaves far fewer (docs/benchmarks.md, "An allocator that packs TLS state"). The allocator is
// chosen when the process starts (LD_PRELOAD), so mailpush cannot switch it; it reports which one
// it got, and the Docker image preloads jemalloc.

import { existsSync, readFileSync } from 'node:fs';

export type MallocName = 'jemalloc' | 'tcmalloc' | 'glibc' | 'unknown';

/** The malloc of this process (Linux; `unknown` elsewhere). */
export function runningMalloc(): MallocName {
  return mallocFromMaps(readMaps());
}

/**
 * The malloc of a process from the libraries mapped into it (/proc/<pid>/maps); `glibc` when none
 * of the known replacements is mapped and this Node's C library is glibc.
 */
export function mallocFromMaps(maps: string | undefined): MallocName {
  if (maps === undefined) return 'unknown';
  if (/\/libjemalloc[^/\n]*\.so/.test(maps)) return 'jemalloc';
  if (/\/libtcmalloc[^/\n]*\.so/.test(maps)) return 'tcmalloc';
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'unknown';
}

/**
 * V8 options for a worker (NODE_OPTIONS in docker-compose.yml): a young generation of at most
 * 2 × 8 MiB. On a machine with many GiB V8 lets it grow to 128 MiB during a burst of allocation,
 * such as 10,000 logins, and gives the pages back only sometimes: 9 of 13 such runs of bench:scale
 * kept ~100 MiB more to the end, 10 KiB per mailbox (docs/benchmarks.md, "The server's mailboxes
 * exist before a first start"). At 8 MiB none of four did, at no measurable CPU cost.
 */
export const WORKER_NODE_OPTIONS = '--max-semi-space-size=8';

/**
 * The jemalloc settings the Docker image runs with (MALLOC_CONF). jemalloc returns freed pages to
 * the system some seconds after they were freed, but only when it is next called: a worker that
 * has brought up its accounts and then sits idle calls it rarely, and in one run of 10,000 TLS
 * accounts kept ~100 MiB of freed pages resident. A background thread returns them on time.
 */
export const JEMALLOC_CONF = 'background_thread:true';

/**
 * A worker's jemalloc settings (docker-compose's worker MALLOC_CONF): the image's, and every block
 * of 64 KiB or more served from jemalloc's arena for large blocks, which hands their pages back to
 * the system as soon as they are freed (its other arenas keep freed pages for seconds, to reuse).
 * Each TLS socket has one such block for its life: the encrypted read buffer, which Node sizes to
 * libuv's 64 KiB read, and of which only the pages reads have written need be in memory. The
 * usual arenas, after the churn of thousands of logins, can serve it from pages still in memory
 * from their last use; this one serves untouched pages. At 10,000 TLS mailboxes: 4–6 KiB less per
 * mailbox (docs/benchmarks.md, "The session each connection was offered, and a TLS socket's read
 * buffer on untouched pages").
 * Not for web processes: every plain socket read there is a 64 KiB block too, briefly, and would
 * cost a system call to give back.
 */
export const WORKER_JEMALLOC_CONF = `${JEMALLOC_CONF},oversize_threshold:65536`;

/** Where Debian, Ubuntu, Fedora and Alpine's packages (and our Docker image) put jemalloc. */
export function jemallocCandidates(arch: string = process.arch): string[] {
  const triplet = arch === 'arm64' ? 'aarch64-linux-gnu' : arch === 'x64' ? 'x86_64-linux-gnu' : undefined;
  return [
    '/usr/local/lib/libjemalloc.so.2',
    ...(triplet ? [`/usr/lib/${triplet}/libjemalloc.so.2`] : []),
    '/usr/lib64/libjemalloc.so.2',
    '/usr/lib/libjemalloc.so.2',
  ];
}

/** The first installed jemalloc of {@link jemallocCandidates}, or undefined. */
export function findJemalloc(): string | undefined {
  return jemallocCandidates().find((file) => existsSync(file));
}

/**
 * What the worker says at start about its allocator: which one, and how to get jemalloc where it is
 * not in use. `workerMallocConf`: for a process that is a worker only, the MALLOC_CONF it was started
 * with ('' for none), so that one on jemalloc without WORKER_JEMALLOC_CONF's large-block arena
 * (as the image runs every process, unless docker-compose's worker settings are copied) is told.
 */
export function mallocAdvice(malloc: MallocName, jemalloc: string | undefined, workerMallocConf?: string): string {
  if (malloc === 'jemalloc') {
    if (workerMallocConf === undefined || largeBlocksApart(workerMallocConf)) return 'memory allocator: jemalloc';
    return `memory allocator: jemalloc; start workers with MALLOC_CONF=${WORKER_JEMALLOC_CONF} to save about 5 KiB per TLS mailbox`;
  }
  const how = jemalloc ? `start the worker with LD_PRELOAD=${jemalloc} MALLOC_CONF=${WORKER_JEMALLOC_CONF}` : 'install jemalloc (Debian: libjemalloc2) and preload it with LD_PRELOAD';
  return `memory allocator: ${malloc}; ${how} to save about 6 KiB per TLS mailbox`;
}

/** True when jemalloc settings `conf` serve blocks of 64 KiB and up from the arena for large blocks. */
function largeBlocksApart(conf: string): boolean {
  const threshold = Number(/(?:^|,)oversize_threshold:(\d+)(?:,|$)/.exec(conf)?.[1] ?? 0);
  return threshold > 0 && threshold <= 64 * 1024;
}

function readMaps(): string | undefined {
  try {
    return readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return undefined;
  }
}
