import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostLimiter } from '../../src/imap/host-limiter.js';

test('logins past the cap wait their turn in order, thousands of them, and each host has its own cap', async () => {
  const limiter = new HostLimiter(3);
  const started: number[] = [];
  let running = 0;
  let most = 0;
  const login = (host: string, n: number) => limiter.run(host, async () => {
    started.push(n);
    most = Math.max(most, ++running);
    // Finish in an order other than the start order, so slots free up out of turn.
    await new Promise((resolve) => setTimeout(resolve, n % 3));
    running--;
    return n;
  });
  const logins = Array.from({ length: 5000 }, (_, n) => login('imap.example.test', n));
  // Another host's login does not queue behind the 5,000.
  assert.equal(await login('other.example.test', -1), -1);
  assert.deepEqual(await Promise.all(logins), Array.from({ length: 5000 }, (_, n) => n));
  assert.deepEqual(started.filter((n) => n >= 0), Array.from({ length: 5000 }, (_, n) => n), 'started first come, first served');
  assert.equal(limiter.peak('imap.example.test'), 3);
  assert.equal(most, 4, 'three on the busy host and one on the other at most');
  assert.equal(limiter.inFlight('imap.example.test'), 0);
  // Freed slots are reused: the limiter is empty again and takes new logins at once.
  assert.equal(await login('imap.example.test', 7), 7);
});

test('a login that fails frees its slot for the next one', async () => {
  const limiter = new HostLimiter(1);
  const failing = limiter.run('h', async () => {
    throw new Error('refused');
  });
  const next = limiter.run('h', async () => 'in');
  await assert.rejects(failing, /refused/);
  assert.equal(await next, 'in');
  assert.equal(limiter.inFlight('h'), 0);
});
