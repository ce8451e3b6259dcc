// HintFollower: a hinted UID not visible yet is fetched again a bounded number of times, then
// dropped; reaching it ends the retries and times the hint once; with a trace sink each hint
// reports its fetches (bench:latency's stage breakdown).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HINT_RETRY_DELAYS_MS, HintFollower, type HintTrace } from '../../src/roles/worker/hint-follower.js';
import { waitFor } from '../helpers/wait.js';

function follower() {
  const state = { fetches: 0, reached: [] as number[] };
  const f = new HintFollower(() => state.fetches++, (at) => state.reached.push(at));
  return { f, state };
}

test('a UID that never shows up is fetched again once per retry delay, then given up', async () => {
  const { f, state } = follower();
  f.expect(4_000_000_000, 1);
  // Each fetch finds nothing new: the watermark stays at 3.
  for (let i = 0; i < HINT_RETRY_DELAYS_MS.length; i++) {
    f.synced(3);
    await waitFor(() => state.fetches === i + 1, { timeoutMs: 2000, what: `retry ${i + 1}` });
  }
  f.synced(3); // out of retries: dropped
  f.synced(3); // nothing pending any more: no further fetch is scheduled
  assert.equal(state.fetches, HINT_RETRY_DELAYS_MS.length);
  assert.deepEqual(state.reached, []);
});

test('reaching the hinted UID stops the retries and reports the first hint\'s time once', async () => {
  const { f, state } = follower();
  f.expect(5, 100);
  f.expect(4, 200); // lower: covered by the pending one
  f.synced(4);
  await waitFor(() => state.fetches === 1, { timeoutMs: 2000, what: 'one retry' });
  f.synced(5);
  f.synced(6);
  assert.deepEqual(state.reached, [100]);
  assert.equal(state.fetches, 1);
});

test('forget() cancels a scheduled retry', async () => {
  const { f, state } = follower();
  f.expect(9, 1);
  f.synced(1);
  f.forget();
  // A later hint's retry is the sentinel: only it fetches.
  f.expect(10, 2);
  f.synced(1);
  await waitFor(() => state.fetches === 1, { timeoutMs: 2000, what: 'the sentinel retry' });
  f.synced(10);
  assert.deepEqual(state.reached, [2]);
});

test('with a trace sink, a hint reports each fetch in order, what queued it and whether it reached the UID', async () => {
  const traces: HintTrace[] = [];
  let fetches = 0;
  const f = new HintFollower(() => fetches++, () => undefined, (trace) => traces.push(trace));
  f.expect(7, 1000.5);
  f.fetching();
  f.synced(6); // woken by the hint, the message not visible yet
  await waitFor(() => fetches === 1, { timeoutMs: 2000, what: 'the retry' });
  f.fetching();
  f.synced(7); // the retry reaches it
  assert.equal(traces.length, 1);
  const [reached] = traces as [HintTrace];
  assert.equal(reached.uid, 7);
  assert.equal(reached.received, 1000.5);
  assert.equal(reached.reached, true);
  assert.deepEqual(reached.fetches.map((x) => [x.by, x.reached]), [['wake', false], ['retry', true]]);
  assert.ok(reached.woke <= reached.fetches[0]!.start && reached.fetches[0]!.end <= reached.fetches[1]!.start);

  // A UID that never shows up is reported once, as given up, with every fetch made for it.
  f.expect(9, 2000);
  for (let i = 0; i <= HINT_RETRY_DELAYS_MS.length; i++) {
    f.fetching();
    f.synced(8);
    if (i < HINT_RETRY_DELAYS_MS.length) await waitFor(() => fetches === 2 + i, { timeoutMs: 2000, what: `retry ${i + 1}` });
  }
  assert.equal(traces.length, 2);
  assert.equal(traces[1]!.reached, false);
  assert.equal(traces[1]!.fetches.length, HINT_RETRY_DELAYS_MS.length + 1);
});
