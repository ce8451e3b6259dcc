// bench:latency's breakdown of the Dovecot push path: where the time between the LMTP
// delivery's start and the mail.new frame goes, stage by stage. The worker reports each hint's
// stage times at LOG_LEVEL=trace ("hint followed", see src/roles/worker/hint-follower.ts); the
// bench matches them to its deliveries by account and time. Every time is ms since the epoch with
// sub-millisecond resolution (performance.timeOrigin + performance.now()) in each process.

import type { HintTrace } from '../../src/roles/worker/hint-follower.js';
import { fmt, table } from './report.js';
import { summarize } from './stats.js';

export interface StagedSample {
  /** The LMTP transaction began, and the frame arrived on the WebSocket (epoch ms). */
  lmtpStart: number;
  wsAt: number;
  trace?: HintTrace;
}

/** The worker's "hint followed" trace for `accountId` whose hint reached the hook in [from, to]. */
export function findTrace(logs: ReadonlyArray<Record<string, unknown>>, accountId: string, from: number, to: number): HintTrace | undefined {
  for (let i = logs.length - 1; i >= 0; i--) {
    const entry = logs[i]!;
    if (entry.msg !== 'hint followed' || entry.accountId !== accountId) continue;
    const trace = entry.hintTrace as HintTrace;
    if (trace.received >= from && trace.received <= to) return trace;
  }
  return undefined;
}

/** The trace with every time made relative to `origin` (e.g. the LMTP start). */
export function rebase(trace: HintTrace, origin: number): HintTrace {
  return {
    ...trace, received: trace.received - origin, woke: trace.woke - origin,
    fetches: trace.fetches.map((f) => ({ ...f, start: f.start - origin, end: f.end - origin })),
  };
}

const STAGES: Array<[string, (s: StagedSample, t: HintTrace) => number]> = [
  ['LMTP start → hook has the hint (Dovecot)', (s, t) => t.received - s.lmtpStart],
  ['hook → worker has it (hint bus)', (_s, t) => t.woke - t.received],
  ['worker has it → first fetch starts (after the NOOP, where the worker sends one)', (_s, t) => t.fetches[0]!.start - t.woke],
  ['first fetch (IMAP; + append and push outbox when it found the mail)', (_s, t) => t.fetches[0]!.end - t.fetches[0]!.start],
  ['first fetch end → the reaching fetch starts (when not the first)', (_s, t) => (t.fetches.length > 1 ? t.fetches.at(-1)!.start - t.fetches[0]!.end : Number.NaN)],
  ['reaching fetch + append and push outbox (when not the first)', (_s, t) => (t.fetches.length > 1 ? t.fetches.at(-1)!.end - t.fetches.at(-1)!.start : Number.NaN)],
  ['worker done → WebSocket frame (live feed, web, socket; < 0: the frame came first)', (s, t) => s.wsAt - t.fetches.at(-1)!.end],
  ['worker has it → worker done (NOOP, fetches, append)', (_s, t) => t.fetches.at(-1)!.end - t.woke],
  ["hook → WebSocket frame (mailpush's part)", (s, t) => s.wsAt - t.received],
  ['total: LMTP start → WebSocket frame', (s) => s.wsAt - s.lmtpStart],
];

export function printHintStages(label: string, samples: StagedSample[]): void {
  const traced = samples.filter((s): s is StagedSample & { trace: HintTrace } => Boolean(s.trace?.reached && s.trace.fetches.length > 0));
  if (traced.length === 0) {
    console.log(`\n${label}: no hint traces (the worker runs at LOG_LEVEL=trace unless BENCH_TRACE=0)`);
    return;
  }
  const emptyFirst = traced.filter((s) => !s.trace.fetches[0]!.reached).length;
  const fetches = summarize(traced.map((s) => s.trace.fetches.length));
  const byRetry = traced.filter((s) => s.trace.fetches.at(-1)!.by === 'retry').length;
  console.log(`\n${label}: stages of ${traced.length} traced hints (ms). First fetch found nothing in ${emptyFirst}; fetches per hint p50 ${fmt(fetches.p50, 0)}, max ${fmt(fetches.max, 0)}; the reaching fetch came from the retry timer in ${byRetry}, from the hint or an EXISTS in ${traced.length - byRetry}`);
  console.log(table(['stage', 'n', 'p50', 'p95', 'p99', 'max'], STAGES.map(([name, pick]) => {
    const values = traced.map((s) => pick(s, s.trace)).filter(Number.isFinite);
    const sum = summarize(values);
    return [name, values.length, fmt(sum.p50, 2), fmt(sum.p95, 2), fmt(sum.p99, 2), fmt(sum.max, 2)];
  })));
}
