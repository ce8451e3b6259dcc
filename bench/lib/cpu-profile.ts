// Preloaded into a mailpush process with BENCH_PROFILE=<dir> (NODE_OPTIONS=--import …, since
// --cpu-prof itself is not allowed in NODE_OPTIONS): profiles the whole life of the process and
// writes <dir>/<role>-<pid>.cpuprofile on exit, for Chrome DevTools or speedscope.

import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // An in-process inspector session answers synchronously, so this runs to the end on exit.
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(path.join(dir, `${process.argv[2] ?? 'node'}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
