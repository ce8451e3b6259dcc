// One long-lived IMAP connection watching one mailbox of one account.
//
// Its life: connect → SELECT → catch up from the watermark → IDLE (or poll) until the connection
// dies → back off → again (the loop is reconnect-loop.ts). New mail is found by UID, never by
// counting EXISTS: the watermark in the store says which UIDs were already notified, and it only
// moves in the same atomic step that appends their events, so a crash at any point can neither
// lose nor repeat a notification.
// The home mailbox's watcher may also carry the account's other folders over NOTIFY (notify-folders.ts).

import type { ImapFlow, ExistsEvent, FlagsEvent, ExpungeEvent } from 'imapflow';
import { capFlags } from '../../core/field-caps.js';
import { batchEvent, expungedData, newMailEvents } from '../../core/mail-events.js';
import type { Watermark } from '../../core/ports.js';
import type { NewEvent } from '../../core/types.js';
import { connectImap, ImapConnectError, isResponseLimitError, withinDeadline } from '../../imap/client.js';
import { openMailbox } from '../../imap/lean-imapflow.js';
import { appendThenPush } from './append.js';
import { optInToDovecotPush } from './dovecot-opt-in.js';
import { HintFollower, type HintTrace } from './hint-follower.js';
import { fetchNewMail } from './new-mail-fetch.js';
import type { NotifyHome } from './notify-folders.js';
import { ReconnectLoop } from './reconnect-loop.js';
import { UnseenCounter } from './unseen-counter.js';
import { LeaseLostError, type MailboxWatcherOptions, type WatcherState, type WatcherStatus } from './watcher-options.js';

export type { MailboxWatcherOptions, WatcherState, WatcherStatus } from './watcher-options.js';

export class MailboxWatcher {
  protected stopped = false;
  protected client: ImapFlow | undefined;
  /** Serialises everything that talks to the connection and the log, so events keep UID order. */
  protected queue: Promise<void> = Promise.resolve();
  private syncQueued = false;
  private noopQueued = false;
  private expunged: number[] | undefined;
  protected uidValidity = '';
  /**
   * The watermark as this watcher last wrote or read it. While we hold the lease nobody else
   * moves it, so the next EXISTS needs no Redis read; the append still checks it atomically and
   * a mismatch drops this copy.
   */
  protected knownWatermark: Watermark | undefined;
  private readonly unseen: UnseenCounter;
  /** When the server's first EXISTS not yet synced arrived: a mail.new's `time`, so latency is measured from there. */
  private existsAt: number | undefined;
  /** Messages the server announced (EXISTS growth) since the last sync began: many means count first, fetch no envelopes. */
  private arrivals = 0;
  protected state: WatcherState = 'connecting';
  /** The watermark a fetch of new mail started from, while it runs. */
  private fetchingAbove: number | undefined;
  /**
   * The watermark whose new mail broke the response limits when fetched: a message there is too
   * large to read (a sender can make a 6 MiB Subject). Read from there, the mail is only counted
   * (one mail.batch, no envelopes), so one message cannot keep its account in `error` for ever.
   */
  private oversizedAbove: number | undefined;
  private readonly hints: HintFollower;
  private readonly reconnects: ReconnectLoop;

  /** A visit over another watcher's connection is on (NOTIFY, see folder-watcher.ts). */
  protected visiting = false;

  constructor(protected readonly options: MailboxWatcherOptions) {
    const { log, lease, metrics } = options;
    // Stage times of each hint for bench:latency's breakdown: nothing is recorded below trace.
    const traced = log.isLevelEnabled('trace') ? (hintTrace: HintTrace) => log.trace({ accountId: lease.accountId, hintTrace }, 'hint followed') : undefined;
    this.hints = new HintFollower(() => this.requestSync(false), (receivedAt) => metrics?.hintFannedOut(receivedAt), traced);
    this.unseen = new UnseenCounter(options.mailbox, options.readStatus, () => this.setStatus({ state: this.state }));
    this.reconnects = new ReconnectLoop(options, {
      session: () => this.session(),
      stopped: () => this.stopped,
      leaseLost: () => {
        this.stopped = true;
        options.onLeaseLost();
      },
      setStatus: (status) => this.setStatus(status),
    });
  }

  get mailbox(): string {
    return this.options.mailbox;
  }

  start(): void {
    this.reconnects.start();
  }

  /** Storage may have lost its last appends (a primary failed over): re-read the watermark, fetch above it. */
  recheck(): void {
    this.knownWatermark = undefined;
    if (this.client) this.requestSync(false);
  }

  /**
   * Dovecot says `uid` (0: a UID not known yet) arrived in this mailbox (see hint-follower.ts):
   * fetch above the watermark now, as on an EXISTS. 'stale' when that UID is already notified, or the hint is for another
   * UIDVALIDITY or comes while no connection is open (the next connect catches up anyway).
   */
  hint(uidValidity: number, uid: number, receivedAt: number): 'woke' | 'stale' {
    const client = this.client;
    if (this.stopped || !client?.usable || String(uidValidity) !== this.uidValidity) return 'stale';
    const lastUid = this.knownWatermark?.lastUid ?? 0;
    if (uid > 0 && uid <= lastUid) return 'stale';
    this.existsAt ??= receivedAt;
    // UID 0 (not assigned yet when Dovecot told us): whatever comes next is the one to wait for.
    this.hints.expect(uid > 0 ? uid : lastUid + 1, receivedAt);
    this.noopThenSync(client);
    return 'woke';
  }

  /**
   * A NOOP first: Dovecot posts before this session's view holds the message, so a fetch at once
   * found nothing (every time, in bench:latency's trace); the NOOP's EXISTS queues the fetch that
   * finds it. The fetch asked for after it covers mail already in the view (no EXISTS then).
   */
  private noopThenSync(client: ImapFlow): void {
    if (this.noopQueued) return;
    this.noopQueued = true;
    void this.enqueue(async () => {
      this.noopQueued = false;
      if (client === this.client && client.usable) await client.noop();
    }).then(() => this.requestSync(false), (error: unknown) => this.fail(client, error));
  }

  /** This watcher as the home of the account's other folders under NOTIFY. */
  private notifyHome(): NotifyHome {
    return {
      mailbox: this.options.mailbox,
      schedule: (client, task) => void this.enqueue(async () => {
        if (client === this.client && client.usable) await task();
      }).catch((error: unknown) => this.fail(client, error)),
      reselect: async (client, since) => {
        // QRESYNC lists new messages among the changed ones: those become mail.new, not mail.flags.
        this.visiting = true;
        try {
          this.uidValidity = String((await openMailbox(client, this.options.mailbox, since)).uidValidity);
        } finally {
          this.visiting = false;
        }
        // Mail that came while the folders were looked at was announced to nobody: look now.
        this.requestSync(false);
      },
    };
  }

  /** Logs out and stops for good. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.hints.forget();
    this.reconnects.cutPause();
    const client = this.client;
    if (client) await client.logout().catch(() => client.close());
    await this.reconnects.ended();
  }

  /** One connection, from login until it closes. Throws when it could not be set up. */
  private async session(): Promise<void> {
    const { options } = this;
    const client = await connectImap(options.settings, options.password, options.imap, {
      maxIdleTime: options.config.imap.idleRestartMs,
      qresync: true,
    }).catch((error: unknown) => {
      options.metrics?.imapConnectFailed();
      throw error;
    });
    this.client = client;
    // Whatever changed while no connection was open was not seen: the next count comes from STATUS.
    this.unseen.forget();
    this.arrivals = 0;
    options.metrics?.imapConnected();
    const closed = new Promise<void>((resolve) => client.once('close', () => {
      this.hints.forget();
      options.metrics?.imapClosed();
      resolve();
    }));
    // A response past the limits closes the connection from inside imapflow: remembered, so the
    // session ends with that reason (the account shows `error`) rather than as a plain disconnect.
    let overLimit: unknown;
    client.on('error', (error: Error) => {
      if (isResponseLimitError(error)) {
        overLimit ??= error;
        if (this.fetchingAbove !== undefined) this.oversizedAbove = this.fetchingAbove;
      }
      options.log.info({ mailbox: options.mailbox, err: error.message }, 'imap connection error');
    });
    try {
      if (this.stopped) {
        await client.logout();
        return;
      }
      if (options.dovecotOptIn) await optInToDovecotPush(client, options.settings.user, options.log, options.mailbox);
      // Listeners first: mail that arrives during the catch-up below queues another sync.
      const folders = options.notifyFolders;
      client.on('exists', (event: ExistsEvent) => {
        if (folders?.route('exists', event)) return;
        this.existsAt ??= Date.now();
        this.arrivals += Math.max(0, event.count - event.prevCount);
        this.requestSync(false);
      });
      // Under NOTIFY the connection also visits the other folders: their events are theirs.
      client.on('flags', (event: FlagsEvent) => folders?.route('flags', event) || this.onFlags(event));
      client.on('expunge', (event: ExpungeEvent) => folders?.route('expunge', event) || this.onExpunge(event));
      const budgetMs = options.config.imap.connectTimeoutMs;
      // Bounded like the login: an answer dripped a byte at a time would hold the account in `connecting`.
      const opening = openMailbox(client, options.mailbox).catch((error: { responseStatus?: string; responseText?: string }) => {
        // The server said NO: the folder is gone or was never there. Retrying fast will not help.
        if (error.responseStatus === 'NO') throw new ImapConnectError('mailbox_missing', `cannot open "${options.mailbox}": ${error.responseText ?? 'no such mailbox'}`);
        throw error;
      });
      const mailbox = await withinDeadline(client, opening, Date.now() + budgetMs, budgetMs, `SELECT ${options.mailbox}`);
      this.uidValidity = String(mailbox.uidValidity);
      await this.enqueue(() => this.sync(client, true, mailbox.uidNext));
      if (folders) await this.enqueue(() => folders.attach(client, this.notifyHome()));
      const polling = !client.capabilities.has('IDLE');
      // Without IDLE the server cannot tell us about new mail: look for it by UID on a timer.
      const poller = polling ? setInterval(() => this.requestSync(false), options.config.imap.pollIntervalMs) : undefined;
      this.setStatus({ state: polling ? 'polling' : 'idle' });
      await closed;
      clearInterval(poller);
      if (overLimit) throw overLimit;
    } catch (error) {
      client.close();
      // A command cut short by that close fails with a generic error: the limit is the cause.
      throw overLimit ?? error;
    } finally {
      if (this.client === client) this.client = undefined;
    }
  }

  private requestSync(catchUp: boolean): void {
    if (this.syncQueued) return; // one queued sync covers every EXISTS before it runs
    this.syncQueued = true;
    const client = this.client;
    void this.enqueue(async () => {
      this.syncQueued = false;
      const seenAt = this.existsAt;
      this.existsAt = undefined;
      const arrivals = this.arrivals;
      this.arrivals = 0;
      if (client && client === this.client && client.usable) {
        this.hints.fetching();
        await this.sync(client, catchUp, undefined, seenAt, arrivals);
        this.hints.synced(this.knownWatermark?.lastUid);
      }
    }).catch((error: unknown) => this.fail(client, error));
  }

  /**
   * Notifies every message above the watermark. `uidNext` (from SELECT) lets a first run start at
   * the mailbox's current end instead of announcing old mail, and lets a long catch-up be counted
   * without fetching thousands of envelopes.
   */
  protected async sync(client: ImapFlow, catchUp: boolean, uidNext?: number, seenAt?: number, arrivals = 0): Promise<void> {
    const { options } = this;
    const ref = options.lease;
    for (let attempt = 0; attempt < 3; attempt++) {
      const stored = (this.knownWatermark ??= await options.eventLog.watermark(ref, options.mailbox));
      const current = this.uidValidity;
      const next = uidNext ?? (client.mailbox ? client.mailbox.uidNext : 1);
      if (!stored || stored.uidValidity !== current) {
        // First run, or the server renumbered the mailbox: re-base without replaying old mail.
        const events: NewEvent[] = stored ? [this.event('mailbox.reset', { uidValidity: current })] : [];
        if (await this.append(events, stored, { uidValidity: current, lastUid: next - 1 })) return;
        continue;
      }
      const fetchStarted = performance.now();
      // Many new messages expected (a long absence, or an import announced by EXISTS): count them first.
      const expected = catchUp && uidNext !== undefined ? uidNext - 1 - stored.lastUid : arrivals;
      const countOnly = this.oversizedAbove === stored.lastUid;
      this.fetchingAbove = stored.lastUid;
      const fresh = await fetchNewMail(client, stored.lastUid, countOnly ? 0 : options.config.events.batchSize, countOnly || expected > options.config.events.batchSize)
        .finally(() => (this.fetchingAbove = undefined));
      if (fresh.messages.length === 0 && !fresh.span) return;
      const unseenStarted = performance.now();
      // Counted from what the fetch brought when this connection knows the count and the fetch
      // brought every new message's flags (a long absence counts UIDs only); else one STATUS.
      const tallied = fresh.span ? undefined : this.unseen.add(fresh.flags);
      const unseen = tallied ?? (await this.unseen.ask(client));
      const appendStarted = performance.now();
      const ctx = {
        accountId: ref.accountId, mailbox: options.mailbox, uidValidity: current, unseen, catchUp,
        batchSize: options.config.events.batchSize, now: new Date(seenAt ?? Date.now()),
      };
      const events = fresh.span ? [batchEvent(fresh.span, ctx)] : newMailEvents(fresh.messages, ctx);
      const lastUid = fresh.span ? fresh.span.last : fresh.messages.reduce((max, m) => Math.max(max, m.uid), 0);
      const appended = await this.append(events, stored, { uidValidity: current, lastUid });
      if (appended) this.oversizedAbove = undefined;
      // The account's stored count follows the event, not ahead of it on the way to the socket.
      if (tallied !== undefined) this.unseen.report(tallied);
      const metrics = options.metrics;
      if (metrics) {
        metrics.newMailStep('imap_fetch', (unseenStarted - fetchStarted) / 1000);
        if (tallied === undefined) metrics.newMailStep('imap_unseen', (appendStarted - unseenStarted) / 1000);
        metrics.newMailStep('append', (performance.now() - appendStarted) / 1000);
      }
      if (appended) return;
    }
    throw new Error('watermark kept moving under this worker');
  }

  onFlags(event: FlagsEvent): void {
    const client = this.client;
    const uid = event.uid;
    // A visit's QRESYNC lists new messages among the changed ones: those become mail.new, not mail.flags.
    if (this.visiting && uid !== undefined && uid > (this.knownWatermark?.lastUid ?? Infinity)) return;
    if (!client || uid === undefined) {
      // Without QRESYNC the server gave no UID to report, but the count may have changed.
      this.unseen.forget();
      return;
    }
    void this.enqueue(async () => {
      if (!client.usable) return;
      const unseen = await this.unseen.ask(client);
      // \Recent belongs to one IMAP session (and is gone in IMAP4rev2): not a property of the mail.
      const flags = capFlags([...event.flags].filter((flag) => flag !== '\\Recent').sort());
      await this.append([this.event('mail.flags', { uid, seen: event.flags.has('\\Seen'), flags, unseen })]);
    }).catch((error: unknown) => this.fail(client, error));
  }

  onExpunge(event: ExpungeEvent): void {
    const client = this.client;
    if (!client) return;
    // A bulk delete arrives as many responses: gather them into one event.
    if (this.expunged) {
      if (event.uid !== undefined) this.expunged.push(event.uid);
      return;
    }
    this.expunged = event.uid !== undefined ? [event.uid] : [];
    void this.enqueue(async () => {
      const uids = this.expunged ?? [];
      this.expunged = undefined;
      if (!client.usable) return;
      const unseen = await this.unseen.ask(client);
      await this.append(expungedData(uids, unseen).map((data) => this.event('mail.expunged', data)));
    }).catch((error: unknown) => this.fail(client, error));
  }

  /** True when appended; false when the watermark moved meanwhile. Throws when the lease is gone. */
  private async append(events: NewEvent[], expected?: Watermark, next?: Watermark): Promise<boolean> {
    const result = await appendThenPush(this.options.eventLog, this.options.pushes, {
      lease: this.options.lease,
      events,
      ...(next ? { watermark: { mailbox: this.options.mailbox, expected, next } } : {}),
    });
    if (result.ok) {
      if (next) this.knownWatermark = next;
      return true;
    }
    this.knownWatermark = undefined;
    if (result.reason === 'lease_lost') throw new LeaseLostError('lease lost');
    return false;
  }

  private event<T extends NewEvent['type']>(type: T, data: NewEvent<T>['data']): NewEvent<T> {
    return { type, accountId: this.options.lease.accountId, mailbox: this.options.mailbox, time: new Date().toISOString(), data };
  }

  protected enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A failed sync leaves the connection in an unknown state: drop it and start over. */
  private fail(client: ImapFlow | undefined, error: unknown): void {
    if (error instanceof LeaseLostError) {
      if (!this.stopped) {
        this.stopped = true;
        this.options.onLeaseLost();
      }
      client?.close();
      return;
    }
    this.options.log.warn({ mailbox: this.options.mailbox, err: (error as Error).message }, 'sync failed, reconnecting');
    client?.close();
  }

  protected setStatus(status: WatcherStatus): void {
    this.state = status.state;
    this.options.notifyFolders?.followHome(status.state);
    this.options.onStatus({ ...status, ...(this.unseen.last !== undefined ? { unseen: this.unseen.last } : {}) });
  }
}
