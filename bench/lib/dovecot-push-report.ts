// The Dovecot push side of bench:latency: absolute latency from the start of the LMTP delivery,
// IDLE alone against Dovecot's push_notification telling the gateway during the delivery, each
// next to the raw IDLE client of the same run.

import { fmt, table, verdict } from './report.js';
import { summarize, type Summary } from './stats.js';
import { barChart } from './svg.js';

interface Timed {
  raw: number;
  /** The worker's first word of the message: the EXISTS, or with Dovecot push the hint. */
  workerExists: number;
  ws: number;
  push: number;
}

interface Scenario {
  label: string;
  dovecotPush: boolean;
  samples: Timed[];
  workerCpu: number;
}

/** The goal with Dovecot push, on this 2-core machine: from the LMTP transaction's start. */
export const DOVECOT_PUSH_GOAL = { wsP50: 20, wsP99: 60, pushP50: 30 } as const;

const of = (samples: Timed[], pick: (x: Timed) => number): Summary => summarize(samples.map(pick).filter(Number.isFinite));

export function printDovecotPushGoal(results: Scenario[]): void {
  const g = DOVECOT_PUSH_GOAL;
  console.log(`\nFrom the LMTP delivery's start (ms). Goal with Dovecot push: WebSocket p50 ≤ ${g.wsP50}, p99 ≤ ${g.wsP99}; push service p50 ≤ ${g.pushP50}`);
  console.log(table(
    ['scenario', 'raw IDLE EXISTS p50', 'worker told p50', 'WebSocket p50', 'WebSocket p95', 'WebSocket p99', 'push service p50', 'push service p99', 'goal', 'worker CPU'],
    results.map((r) => {
      const ws = of(r.samples, (x) => x.ws);
      const push = of(r.samples, (x) => x.push);
      const meets = ws.p50 <= g.wsP50 && ws.p99 <= g.wsP99 && push.p50 <= g.pushP50;
      return [
        r.label, fmt(of(r.samples, (x) => x.raw).p50), fmt(of(r.samples, (x) => x.workerExists).p50),
        fmt(ws.p50), fmt(ws.p95), fmt(ws.p99), fmt(push.p50), fmt(push.p99), r.dovecotPush ? verdict(meets) : '(IDLE)', `${fmt(r.workerCpu)} %`,
      ];
    }),
  ));
}

export function drawDovecotPushChart(file: string, results: Scenario[]): void {
  barChart(file, {
    title: 'LMTP delivery → mail.new, IDLE vs Dovecot push (ms, lower is better)',
    unit: 'ms',
    goals: [{ label: `WebSocket p50 goal ${DOVECOT_PUSH_GOAL.wsP50} ms`, value: DOVECOT_PUSH_GOAL.wsP50 }, { label: `WebSocket p99 goal ${DOVECOT_PUSH_GOAL.wsP99} ms`, value: DOVECOT_PUSH_GOAL.wsP99 }],
    groups: results.map((r) => ({
      label: r.label,
      bars: [
        { label: 'raw IDLE p50', value: of(r.samples, (x) => x.raw).p50 },
        { label: 'WebSocket p50', value: of(r.samples, (x) => x.ws).p50 },
        { label: 'WebSocket p99', value: of(r.samples, (x) => x.ws).p99 },
        { label: 'push service p50', value: of(r.samples, (x) => x.push).p50 },
      ],
    })),
  });
  console.log(`chart: ${file}`);
}
