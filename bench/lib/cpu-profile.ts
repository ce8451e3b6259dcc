// Preloaded into a mailpush process with BENCH_PROFILE=<dir> (NODE_OPTIONS=--import …, since
// --cpu-prof itself is not allowed in NODE_OPTIONS): profiles the whole life of the process and
// writes <dir>/<role>-<pid>.cpuprofile on exit, for Chrome DevTools or speedscope. With
// BENCH_PROFILE_WINDOW=signal it profiles only between two SIGWINCHes, so a bench can profile one
// phase (bench:scale: the bring-up, then the idle window) without the rest that dwarfs it. Each
// window writes <role>-<pid>-window<n>.cpuprofile and a sampled allocation profile of the same
// window, <role>-<pid>-window<n>.heapprofile (what was allocated where, garbage included: what
// makes the collector run while nothing seems to happen).

import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  const file = (suffix: string, kind: string) => path.join(dir, `${process.argv[2] ?? 'node'}-${process.pid}${suffix}.${kind}`);
  const write = (suffix: string) => {
    // An in-process inspector session answers synchronously, so this also runs to the end on exit.
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(file(suffix, 'cpuprofile'), JSON.stringify(result.profile));
    });
  };
  if (process.env.BENCH_PROFILE_WINDOW === 'signal') {
    let running = false;
    let windows = 0;
    process.on('SIGWINCH', () => {
      if (running) {
        const suffix = `-window${++windows}`;
        write(suffix);
        session.post('HeapProfiler.stopSampling', (error, result) => {
          if (!error) writeFileSync(file(suffix, 'heapprofile'), JSON.stringify(result.profile));
        });
      } else {
        session.post('Profiler.start');
        session.post('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      }
      running = !running;
    });
  } else {
    session.post('Profiler.start');
    process.on('exit', () => write(''));
  }
}
