// Prometheus metrics of one process. Each gateway owns its registry (not prom-client's global
// one), so several gateways in one process (the tests, `mailpush all`) never collide.
//
// Counters are bumped where things happen; gauges that mirror state the process already keeps
// (accounts by state, sockets, queue depth) are read at scrape time instead of being kept in
// step by hand, so they cannot drift.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AccountState, EventType, MailEvent } from '../core/types.js';
import { ACCOUNT_STATES } from '../protocol/accounts.js';
import { isCatchUpMail, type LiveEvent } from '../core/live-event.js';
import type { PushOutcome, QueueDropReason } from '../push/delivery.js';

/** What a role lends the registry to read at scrape time. */
export interface MetricSources {
  /** Accounts this worker holds, by state. */
  accountStates?(): Iterable<AccountState>;
  /** Open WebSocket streams on this web process. */
  webSocketClients?(): number;
  /** Pushes waiting to be sent (queued or delayed for a retry). */
  pushQueueDepth?(): Promise<number>;
  /** Keep-alive agents the push sender holds, one per recently used push-service origin. */
  pushOriginAgents?(): number;
}


/** What became of a delivery hint from Dovecot (see mailpush_dovecot_hints_total). */
export const HINT_OUTCOMES = ['woke', 'stale', 'unknown_user', 'rejected'] as const;
export type HintOutcome = (typeof HINT_OUTCOMES)[number];

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly sources: MetricSources = {};
  private readonly eventsAppended: Counter<'type'>;
  private readonly pushes: Counter<'outcome'>;
  private readonly pushesDropped: Counter<'reason'>;
  private readonly imapConnections: Gauge;
  private readonly imapConnects: Counter<'result'>;
  private readonly imapReconnects: Counter;
  private readonly fanoutLatency: Histogram;
  private readonly pushLatency: Histogram;
  private readonly newMailSteps: Histogram<'step'>;
  private readonly dovecotHints: Counter<'outcome'>;
  private readonly hintLatency: Histogram;
  /**
   * The live event timed last: the feed hands one object to every socket of a user, one socket
   * after the other, so comparing with the previous one is enough to time each event once.
   */
  private lastTimed: LiveEvent | undefined;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'mailpush_' });
    const sources = this.sources;
    new Gauge({
      name: 'mailpush_accounts',
      help: 'Accounts held by this worker, by state',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        if (!sources.accountStates) return;
        const counts = new Map<AccountState, number>(ACCOUNT_STATES.map((state) => [state, 0]));
        for (const state of sources.accountStates()) counts.set(state, (counts.get(state) ?? 0) + 1);
        for (const [state, count] of counts) this.set({ state }, count);
      },
    });
    new Gauge({
      name: 'mailpush_websocket_clients',
      help: 'Open WebSocket streams on this web process',
      registers,
      collect() {
        if (sources.webSocketClients) this.set(sources.webSocketClients());
      },
    });
    new Gauge({
      name: 'mailpush_push_queue_depth',
      help: 'Pushes waiting to be sent, including those delayed for a retry',
      registers,
      async collect() {
        if (sources.pushQueueDepth) this.set(await sources.pushQueueDepth().catch(() => Number.NaN));
      },
    });
    new Gauge({
      name: 'mailpush_push_origin_agents',
      help: 'Keep-alive agents held for push-service origins (bounded by PUSH_MAX_ORIGINS, closed after PUSH_ORIGIN_IDLE_SECONDS unused)',
      registers,
      collect() {
        if (sources.pushOriginAgents) this.set(sources.pushOriginAgents());
      },
    });
    this.pushesDropped = new Counter({
      name: 'mailpush_push_dropped_total',
      help: 'Pushes a queue let go of unsent, by reason (queue_full: the embedded queue was at PUSH_QUEUE_LIMIT and this was the oldest push of the user with the most waiting)',
      labelNames: ['reason'],
      registers,
    });
    this.imapConnections = new Gauge({ name: 'mailpush_imap_connections', help: 'Open IMAP connections', registers });
    this.imapConnects = new Counter({
      name: 'mailpush_imap_connects_total',
      help: 'IMAP connection attempts, by result',
      labelNames: ['result'],
      registers,
    });
    this.imapReconnects = new Counter({
      name: 'mailpush_imap_reconnects_total',
      help: 'IMAP connection attempts after a connection was lost or failed',
      registers,
    });
    this.eventsAppended = new Counter({
      name: 'mailpush_events_appended_total',
      help: 'Events appended to user event logs, by type',
      labelNames: ['type'],
      registers,
    });
    this.pushes = new Counter({
      name: 'mailpush_pushes_total',
      help: 'Web Push deliveries by final outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.fanoutLatency = new Histogram({
      name: 'mailpush_exists_to_fanout_seconds',
      help: 'From the IMAP server announcing new mail (EXISTS) to the mail.new event leaving for WebSocket clients',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.pushLatency = new Histogram({
      name: 'mailpush_exists_to_push_seconds',
      help: 'From the IMAP server announcing new mail (EXISTS) to a push service accepting its Web Push, retries included',
      buckets: [0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    // Where that time goes, for telling a slow IMAP server from a slow Redis.
    this.newMailSteps = new Histogram({
      name: 'mailpush_new_mail_step_seconds',
      help: 'Steps between EXISTS and the append: imap_fetch (leave IDLE, UID FETCH), imap_unseen (STATUS, only when the connection does not already know the unread count), append (event log)',
      labelNames: ['step'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    // Server-assisted push (POST /v1/hooks/dovecot): the web process counts rejected and
    // unknown_user, the worker holding the account counts woke and stale.
    this.dovecotHints = new Counter({
      name: 'mailpush_dovecot_hints_total',
      help: 'Delivery hints from Dovecot, by outcome: woke (a watcher fetches), stale (already notified, or not a watched mailbox), unknown_user (no worker holds such an account), rejected (bad credentials or body)',
      labelNames: ['outcome'],
      registers,
    });
    for (const outcome of HINT_OUTCOMES) this.dovecotHints.inc({ outcome }, 0);
    this.hintLatency = new Histogram({
      name: 'mailpush_hint_to_fanout_seconds',
      help: 'From a Dovecot delivery hint reaching the hook to the mail.new it woke leaving for WebSocket clients (appended and published)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
  }

  dovecotHint(outcome: HintOutcome): void {
    this.dovecotHints.inc({ outcome });
  }

  /** A hinted message's mail.new was appended (and so published to the web processes). */
  hintFannedOut(receivedAt: number): void {
    observeSince(this.hintLatency, receivedAt);
  }

  /** Lets a role expose state it keeps anyway; called once per role at start-up. */
  provide(sources: MetricSources): void {
    Object.assign(this.sources, sources);
  }

  imapConnected(): void {
    this.imapConnects.inc({ result: 'ok' });
    this.imapConnections.inc();
  }

  imapClosed(): void {
    this.imapConnections.dec();
  }

  imapConnectFailed(): void {
    this.imapConnects.inc({ result: 'failed' });
  }

  imapReconnecting(): void {
    this.imapReconnects.inc();
  }

  eventsAppendedOf(events: ReadonlyArray<{ type: EventType }>): void {
    for (const event of events) this.eventsAppended.inc({ type: event.type });
  }

  newMailStep(step: 'imap_fetch' | 'imap_unseen' | 'append', seconds: number): void {
    this.newMailSteps.observe({ step }, seconds);
  }

  /**
   * Counts a push's final outcome; a sent push of live new mail is also timed from the EXISTS its
   * event was stamped with (catch-up mail, found after a reconnect, is not), like fanningOut.
   */
  pushOutcome(outcome: PushOutcome, event?: MailEvent): void {
    this.pushes.inc({ outcome });
    if (outcome !== 'sent' || event?.type !== 'mail.new' || isCatchUpMail(event)) return;
    observeSince(this.pushLatency, Date.parse(event.time));
  }

  /** Counts a push dropped unsent by its queue (not also in mailpush_pushes_total). */
  pushDropped(reason: QueueDropReason): void {
    this.pushesDropped.inc({ reason });
  }

  /**
   * Times a live mail.new on its way out to sockets, once per event. The event's `time` is when
   * the worker saw the server's EXISTS; catch-up mail (found after a reconnect) is not timed.
   */
  fanningOut(event: LiveEvent): void {
    if (event.type !== 'mail.new' || event.catchUp || event === this.lastTimed) return;
    this.lastTimed = event;
    observeSince(this.fanoutLatency, event.time);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Observes the seconds since `timeMs` (an event's EXISTS stamp); a clock that went back is skipped. */
function observeSince(histogram: Histogram, timeMs: number): void {
  const seconds = (Date.now() - timeMs) / 1000;
  if (seconds >= 0 && Number.isFinite(seconds)) histogram.observe(seconds);
}
