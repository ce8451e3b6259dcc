// Not a test of the gateway: test/harness.test.ts runs this file in a child `node --test` to prove
// that a test file cannot hang on its fixtures. BROKEN_FIXTURE picks the failure:
//  - start: Redis refuses its configuration while Dovecot and the push service start fine (the
//    CI hang of issue 14: Promise.all rejected, the others were never stopped). The file must
//    exit, non-zero, with Redis's log tail, and Dovecot must be stopped.
//  - hang:  a test never finishes. The watchdog (MAILPUSH_TEST_FILE_TIMEOUT_MS) must end the
//    file, non-zero, with the fixtures' log tails, and Redis must be stopped.
import { before, test } from 'node:test';
import { useFixtures } from '../helpers/fixtures.js';

const fixtures = useFixtures();
const mode = process.env.BROKEN_FIXTURE;

/** For the parent to check that the servers are gone afterwards. */
const report = (what: string, port: number, dir: string) => process.stdout.write(`FIXTURE ${what} port=${port} dir=${dir}\n`);

before(async () => {
  if (mode === 'start') {
    await Promise.all([
      fixtures.dovecot().then((d) => report('dovecot', d.imapPort, d.dir)),
      fixtures.pushService(),
      fixtures.redis({ args: ['--no-such-directive', 'yes'] }),
    ]);
  } else {
    const [redis] = await Promise.all([fixtures.redis(), fixtures.pushService()]);
    report('redis', redis.port, redis.dir);
  }
});

test('never finishes', async () => {
  await new Promise(() => undefined);
});
