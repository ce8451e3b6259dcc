import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findJemalloc, JEMALLOC_CONF, jemallocCandidates, mallocAdvice, mallocFromMaps, WORKER_JEMALLOC_CONF, WORKER_NODE_OPTIONS } from '../../src/observability/malloc.js';

const mallocModule = fileURLToPath(new URL('../../src/observability/malloc.js', import.meta.url));

/** What runningMalloc() says in a fresh Node process started with `env`. */
function mallocOfChild(env: Record<string, string>): string {
  const script = `import(${JSON.stringify(mallocModule)}).then((m) => process.stdout.write(m.runningMalloc()))`;
  return execFileSync(process.execPath, ['-e', script], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
}

test('a process tells jemalloc preloaded from glibc\'s own malloc, by what is mapped into it', () => {
  const jemalloc = findJemalloc();
  assert.ok(jemalloc, `jemalloc is installed in one of ${jemallocCandidates().join(', ')} (Debian: libjemalloc2, which .ci/run installs)`);
  assert.equal(mallocOfChild({}), 'glibc');
  assert.equal(mallocOfChild({ LD_PRELOAD: jemalloc }), 'jemalloc');
});

test('the maps of a process with tcmalloc, or without /proc, are not taken for glibc', () => {
  const line = (file: string) => `7f1c2a000000-7f1c2a020000 r--p 00000000 08:01 1234  ${file}\n`;
  assert.equal(mallocFromMaps(line('/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.9')), 'tcmalloc');
  assert.equal(mallocFromMaps(line('/usr/local/lib/libjemalloc.so.2')), 'jemalloc');
  assert.equal(mallocFromMaps(undefined), 'unknown');
});

test('the start-up line says how to get jemalloc where it is not in use, and nothing more where it is', () => {
  assert.equal(mallocAdvice('jemalloc', '/usr/local/lib/libjemalloc.so.2'), 'memory allocator: jemalloc');
  assert.equal(mallocAdvice('jemalloc', undefined, WORKER_JEMALLOC_CONF), 'memory allocator: jemalloc', 'a worker with the workers\' settings');
  assert.equal(mallocAdvice('jemalloc', undefined, 'oversize_threshold:32768,background_thread:true'), 'memory allocator: jemalloc', 'or a lower threshold');
  // A worker on the image's settings alone, on none, or with jemalloc's default threshold (8 MiB).
  for (const conf of [JEMALLOC_CONF, '', 'background_thread:true,oversize_threshold:8388608', 'oversize_threshold:0']) {
    assert.equal(mallocAdvice('jemalloc', undefined, conf), `memory allocator: jemalloc; start workers with MALLOC_CONF=${WORKER_JEMALLOC_CONF} to save about 5 KiB per TLS mailbox`, conf);
  }
  assert.match(mallocAdvice('glibc', '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'), /^memory allocator: glibc; start the worker with LD_PRELOAD=\/usr\/lib\/x86_64-linux-gnu\/libjemalloc\.so\.2 MALLOC_CONF=background_thread:true,oversize_threshold:65536 to save/);
  assert.match(mallocAdvice('glibc', undefined), /install jemalloc \(Debian: libjemalloc2\) and preload it with LD_PRELOAD/);
});

test('jemalloc is looked for where Debian and Fedora put it, on each architecture', () => {
  assert.ok(jemallocCandidates('x64').includes('/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'));
  assert.ok(jemallocCandidates('arm64').includes('/usr/lib/aarch64-linux-gnu/libjemalloc.so.2'));
  assert.ok(jemallocCandidates('arm64').includes('/usr/lib64/libjemalloc.so.2'));
  assert.equal(jemallocCandidates('x64')[0], '/usr/local/lib/libjemalloc.so.2', 'the Docker image\'s link first');
});

test('a worker started with WORKER_NODE_OPTIONS keeps its young generation near 16 MiB through a burst of allocation', () => {
  // Three million small objects that live through the burst, as 10,000 logins' objects do: V8 grows
  // the young generation as far as it may.
  const script = `const v8 = require('node:v8'); const kept = []; for (let i = 0; i < 3e6; i++) kept.push({ i, s: 'x' + i });
    process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size))`;
  const newSpace = Number(execFileSync(process.execPath, ['-e', script], { env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: WORKER_NODE_OPTIONS }, encoding: 'utf8' }));
  // 16 MiB, and under load a few pages more (seen: 16.5 and 16.75 MiB with other processes busy,
  // cause not traced); V8's default on this machine grows to 128 MiB.
  assert.ok(newSpace > 0 && newSpace <= 20 * 2 ** 20, `new space ${newSpace} bytes`);
});

test('jemalloc takes the image\'s and the worker\'s settings as they are: every name known, large blocks of 64 KiB and up on their own arena', () => {
  const jemalloc = findJemalloc();
  assert.ok(jemalloc, 'jemalloc is installed (Debian: libjemalloc2)');
  // jemalloc prints its options at exit with stats_print, and warns on stderr of any it does not know.
  const optionsWith = (conf: string) => spawnSync(process.execPath, ['-e', ''], {
    env: { PATH: process.env.PATH ?? '', LD_PRELOAD: jemalloc, MALLOC_CONF: `${conf},stats_print:true` }, encoding: 'utf8',
  }).stderr;
  for (const conf of [JEMALLOC_CONF, WORKER_JEMALLOC_CONF]) {
    const options = optionsWith(conf);
    assert.doesNotMatch(options, /Invalid conf/, conf);
    assert.match(options, /opt\.background_thread: true/, conf);
  }
  assert.match(optionsWith(WORKER_JEMALLOC_CONF), /opt\.oversize_threshold: 65536\n/);
  assert.match(optionsWith('background_thread:true,oversize_treshold:65536'), /Invalid conf pair: oversize_treshold/, 'a misspelt name is reported, so the checks above can fail');
});
