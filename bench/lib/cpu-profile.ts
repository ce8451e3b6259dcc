// Preloaded into a mailpush process with BENCH_PROFILE=<dir> (NODE_OPTIONS=--import …, since
// --cpu-prof itself is not allowed in NODE_OPTIONS): profiles the whole life of the process and
// writes <dir>/<role>-<pid>.cpuprofile on exit, for Chrome DevTools or speedscope. With
// BENCH_PROFILE_WINDOW=signal it profiles only between two SIGWINCHes (the second writes
// <role>-<pid>-window.cpuprofile), so a bench can profile one phase, e.g. the idle one of
// bench:scale, without the start-up that dwarfs it.

import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  const write = (suffix: string) => {
    // An in-process inspector session answers synchronously, so this also runs to the end on exit.
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(path.join(dir, `${process.argv[2] ?? 'node'}-${process.pid}${suffix}.cpuprofile`), JSON.stringify(result.profile));
    });
  };
  if (process.env.BENCH_PROFILE_WINDOW === 'signal') {
    let running = false;
    process.on('SIGWINCH', () => {
      if (running) write('-window');
      else session.post('Profiler.start');
      running = !running;
    });
  } else {
    session.post('Profiler.start');
    process.on('exit', () => write(''));
  }
}
