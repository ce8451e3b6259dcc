// Everything one worker does for one account it holds: a watcher per watched mailbox, and the
// account's single visible state, summarised from them.

import type { ImapFlow } from 'imapflow';
import type { Logger } from 'pino';
import { dovecotPushHost, type Config } from '../../config.js';
import { capText, FIELD_CAPS } from '../../core/field-caps.js';
import type { AccountStore, EventLog, HintBus, Lease, MailboxCommands, MailHint } from '../../core/ports.js';
import type { MailboxCommand, MailboxReply } from '../../core/mailbox-command.js';
import type { SecretBox } from '../../core/secret-box.js';
import type { AccountRecord, AccountState, NewEvent } from '../../core/types.js';
import type { ImapClientOptions, ImapCredential } from '../../imap/client.js';
import { openGrant, openImapCredential, sealGrant, type OAuthGrant } from '../../oauth/grant.js';
import type { OAuthProvider } from '../../oauth/providers.js';
import { GrantRevokedError, refreshDelayMs, refreshGrant, tokenEndpointKey } from '../../oauth/token-refresh.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { PushHandoff } from '../../push/push-handoff.js';
import { appendThenPush } from './append.js';
import { optOutOfDovecotPush } from './dovecot-opt-in.js';
import { FolderWatcher } from './folder-watcher.js';
import { MailboxWatcher, type WatcherStatus } from './mailbox-watcher.js';
import { runMailboxCommand } from './mailbox-command-runner.js';
import { NotifyFolders } from './notify-folders.js';

/** Pauses before each further attempt to remove the http-notify METADATA of a deleted account. */
const OPT_OUT_PAUSES_MS: readonly number[] = [500, 2000];

export interface AccountSessionDeps {
  config: Pick<Config, 'imap' | 'events' | 'dovecotPush'>;
  eventLog: EventLog;
  /** Queues Web Push for what an append stored; absent when push is off. */
  pushes?: PushHandoff;
  accounts: AccountStore;
  secretBox: SecretBox;
  imap: ImapClientOptions;
  log: Logger;
  onLeaseLost(lease: Lease): void;
  metrics?: GatewayMetrics;
  /** Dovecot's delivery hints for this account's host and login; absent: IDLE only. */
  hints?: HintBus;
  /** Commands from the API for this account (mark read, delete, read a message); absent: none are answered. */
  mailboxCommands?: MailboxCommands;
  /** The sign-in providers, for OAuth accounts' token refresh. */
  oauthProviders?: readonly OAuthProvider[];
  /** The stored credentials changed (a refreshed token): start the account over from the store. */
  onCredentialsChanged?(): void;
}

/** An access token with less life left than this is refreshed before the account logs in. */
const EXPIRY_SLACK_MS = 5_000;

// The account shows its most troubled mailbox: one failing folder must not hide behind a healthy one.
const SEVERITY: AccountState[] = ['idle', 'polling', 'connecting', 'reconnecting', 'error', 'auth_failed', 'reauth_required'];

export class AccountSession {
  private readonly watchers: MailboxWatcher[] = [];
  private readonly statuses = new Map<string, WatcherStatus>();
  private published: { state: AccountState; error: string | undefined; unseen: number | undefined } | undefined;
  private stopped = false;
  private password: string | undefined;
  private stopHints: Promise<() => Promise<void>> | undefined;
  private stopCommands: Promise<() => Promise<void>> | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** The grant this session logs in with (OAuth accounts). */
  private grant: OAuthGrant | undefined;
  /** An IMAP refusal of the access token already led to a refresh in this session. */
  private refreshedOnAuthFailure = false;

  constructor(readonly record: AccountRecord, readonly lease: Lease, private readonly deps: AccountSessionDeps) {}

  private get provider(): OAuthProvider | undefined {
    return this.deps.oauthProviders?.find((p) => p.id === this.record.provider);
  }

  start(): void {
    if (this.record.auth === 'oauth2' && this.record.state === 'reauth_required') {
      // The provider refused the refresh token: no login and no refresh until the person signs in
      // again (the callback stores the new grant, sets the state back and restarts the account).
      this.published = { state: 'reauth_required', error: this.record.lastError, unseen: this.record.unseen };
      return;
    }
    if (this.record.auth === 'oauth2' && !this.scheduleRefresh()) return;
    let password: ImapCredential;
    try {
      password = openImapCredential(this.deps.secretBox, this.record);
    } catch {
      // MAILPUSH_SECRET changed or the record was tampered with: only a new password helps.
      this.publish({ state: 'error', error: 'stored credentials cannot be decrypted; set the password again' });
      return;
    }
    const mechanism = this.provider?.mechanism;
    if (typeof password !== 'string' && mechanism) password = { ...password, mechanism };
    // Dovecot's push opt-out logs in with a password; OAuth accounts are at Gmail or Microsoft.
    if (typeof password === 'string') this.password = password;
    const log = this.deps.log.child({ accountId: this.record.accountId });
    const dovecotPush = dovecotPushHost(this.record.imap.host, this.deps.config.dovecotPush.hosts);
    const options = (mailbox: string) => ({
      lease: this.lease,
      mailbox,
      settings: this.record.imap,
      password,
      eventLog: this.deps.eventLog,
      ...(this.deps.pushes ? { pushes: this.deps.pushes } : {}),
      imap: this.deps.imap,
      config: this.deps.config,
      log,
      onStatus: (status: WatcherStatus) => this.onStatus(mailbox, status),
      onLeaseLost: () => this.deps.onLeaseLost(this.lease),
      ...(this.deps.metrics ? { metrics: this.deps.metrics } : {}),
    });
    // The home mailbox (INBOX when watched) holds the connection; with NOTIFY the other folders
    // are looked at over it, else each gets its own (see notify-folders.ts).
    const { mailboxes } = this.record;
    const home = mailboxes.find((m) => m.toUpperCase() === 'INBOX') ?? mailboxes[0] ?? 'INBOX';
    const folders = mailboxes.filter((m) => m !== home).map((mailbox) => new FolderWatcher(options(mailbox)));
    const notifyFolders = folders.length > 0 ? new NotifyFolders(folders, { log, separately: (limit) => this.startSeparately(folders, limit) }) : undefined;
    const homeWatcher = new MailboxWatcher({
      ...options(home),
      // The METADATA entry belongs to the login, not to a mailbox: one watcher sets it.
      dovecotOptIn: dovecotPush,
      ...(notifyFolders ? { notifyFolders, readStatus: (client: ImapFlow, mailbox: string) => notifyFolders.readStatus(client, mailbox) } : {}),
    });
    this.watchers.push(homeWatcher, ...folders);
    homeWatcher.start();
    const commands = this.deps.mailboxCommands;
    if (commands) {
      this.stopCommands = commands.serve(this.lease, (command) => this.onCommand(command, password));
      this.stopCommands.catch((error: unknown) => log.warn({ err: (error as Error).message }, 'cannot listen for mailbox commands'));
    }
    const hints = this.deps.hints;
    if (dovecotPush && hints) {
      this.stopHints = hints.subscribe({ host: this.record.imap.host, login: this.record.imap.user }, (hint) => this.onHint(hint));
      this.stopHints.catch((error: unknown) => log.warn({ err: (error as Error).message }, 'cannot listen for Dovecot hints; IDLE only'));
    }
  }

  /** A command from the API: only for a mailbox this account watches, over a connection of its own. */
  private async onCommand(command: MailboxCommand, credential: ImapCredential): Promise<MailboxReply> {
    if (this.stopped || !this.record.mailboxes.includes(command.mailbox)) return { status: 'not_found' };
    return runMailboxCommand(command, { settings: this.record.imap, credential, imap: this.deps.imap });
  }

  /**
   * The server has no NOTIFY: each folder connects itself, up to `limit` of them; beyond that
   * (the server's connection limits are per user and address) the folder shows why it is not watched.
   */
  private startSeparately(folders: readonly FolderWatcher[], limit: number): void {
    if (this.stopped) return;
    for (const [index, folder] of folders.entries()) {
      if (index < limit) folder.start();
      else this.onStatus(folder.mailbox, { state: 'error', error: `not watched: this IMAP server has no NOTIFY, so at most ${limit + 1} mailboxes are watched (one connection each)` });
    }
  }

  /** A delivery hint for this login: the watcher of its mailbox fetches (INBOX in any case, as IMAP says). */
  private onHint(hint: MailHint): void {
    const wanted = hint.mailbox.toUpperCase() === 'INBOX' ? 'INBOX' : hint.mailbox;
    const watcher = this.watchers.find((w) => (w.mailbox.toUpperCase() === 'INBOX' ? 'INBOX' : w.mailbox) === wanted);
    const outcome = watcher && !this.stopped ? watcher.hint(hint.uidValidity, hint.uid, hint.receivedAt) : 'stale';
    this.deps.metrics?.dovecotHint(outcome);
  }

  /**
   * The account was deleted: Dovecot should stop notifying its deliveries. Over a connection of
   * its own, after stop(); best effort (a leftover entry only costs unknown_user hints).
   */
  async optOutOfDovecotPush(): Promise<void> {
    if (!this.password || !dovecotPushHost(this.record.imap.host, this.deps.config.dovecotPush.hosts)) return;
    // Tried again after a failed login or a timeout (a busy server): nothing else will remove it.
    for (let attempt = 0; ; attempt++) {
      try {
        await optOutOfDovecotPush(this.record.imap, this.password, this.deps.imap);
        return;
      } catch (error) {
        const pauseMs = OPT_OUT_PAUSES_MS[attempt];
        this.deps.log.info({ accountId: this.record.accountId, err: (error as Error).message, attempt: attempt + 1 },
          pauseMs === undefined ? 'could not remove Dovecot http-notify METADATA' : 'could not remove Dovecot http-notify METADATA yet; trying again');
        if (pauseMs === undefined) return;
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }
  }

  /** The state the account shows right now (before any watcher reported: connecting). */
  get state(): AccountState {
    return this.published?.state ?? 'connecting';
  }

  /**
   * Arms the refresh of an OAuth account's access token; false when it must happen before any
   * login (the token expires within the margin), which then starts the account over.
   */
  private scheduleRefresh(): boolean {
    let grant: OAuthGrant;
    try {
      grant = openGrant(this.deps.secretBox, this.record.sealedPassword, this.record.accountId);
    } catch {
      return true; // start() reports the undecryptable credential
    }
    this.grant = grant;
    if (grant.expiresAt === undefined) return true;
    const left = grant.expiresAt - Date.now();
    this.refreshTimer = setTimeout(() => void this.refresh(grant), refreshDelayMs(grant.expiresAt, Date.now()));
    this.refreshTimer.unref();
    // A token about to expire would fail the login: refresh first (the account then starts over).
    return left > EXPIRY_SLACK_MS;
  }

  /**
   * Replaces the grant with a refreshed one and starts the account over with it. `afterAuthFailure`:
   * the IMAP server refused the access token before its time (revoked early, or shorter-lived than
   * `expires_in` said); the new grant remembers it, so a token the server refuses again is an auth
   * failure rather than a refresh loop.
   */
  private async refresh(grant: OAuthGrant, afterAuthFailure = false): Promise<void> {
    const log = this.deps.log.child({ accountId: this.record.accountId });
    const provider = this.provider;
    if (!provider) {
      this.publish({ state: 'auth_failed', error: `the sign-in provider "${this.record.provider ?? ''}" is no longer configured` });
      return;
    }
    try {
      // Not a storm after a restart: refreshes queue per token endpoint like logins per IMAP host.
      const fresh = await this.deps.imap.limiter.run(tokenEndpointKey(provider), () => refreshGrant(provider, grant));
      if (this.stopped) return;
      const stored: OAuthGrant = afterAuthFailure ? { ...fresh, refreshedOnAuthFailure: true } : fresh;
      await this.deps.accounts.update(this.record, { sealedPassword: sealGrant(this.deps.secretBox, stored, this.record.accountId) });
      log.info({ afterAuthFailure }, 'access token refreshed');
      this.deps.onCredentialsChanged?.();
    } catch (error) {
      if (this.stopped) return;
      if (error instanceof GrantRevokedError) {
        log.warn({ err: error.message }, 'the provider refused the refresh; the person must sign in again');
        // No more logins or refreshes until the person signs in again (start() checks the state).
        await this.stop();
        this.publish({ state: 'reauth_required', error: error.message });
        return;
      }
      log.warn({ err: (error as Error).message }, 'token refresh failed; retrying in 30 s');
      this.refreshTimer = setTimeout(() => void this.refresh(grant), 30_000);
      this.refreshTimer.unref();
    }
  }

  /** Storage may have lost this account's last appends: every watcher re-reads its watermark. */
  recheck(): void {
    if (!this.stopped) this.watchers.forEach((watcher) => watcher.recheck());
  }

  async stop(): Promise<void> {
    clearTimeout(this.refreshTimer);
    this.stopped = true;
    const stopHints = this.stopHints;
    const stopCommands = this.stopCommands;
    this.stopHints = undefined;
    this.stopCommands = undefined;
    await Promise.all([
      ...this.watchers.map((watcher) => watcher.stop()),
      stopHints?.then((stop) => stop()).catch(() => undefined),
      stopCommands?.then((stop) => stop()).catch(() => undefined),
    ]);
  }

  private onStatus(mailbox: string, status: WatcherStatus): void {
    if (this.stopped) return;
    if (status.state === 'auth_failed' && this.grant && !this.grant.refreshedOnAuthFailure && !this.refreshedOnAuthFailure) {
      // The server refused an access token the provider gave: one refresh and a new login before
      // this counts as an authentication failure.
      this.refreshedOnAuthFailure = true;
      clearTimeout(this.refreshTimer);
      void this.refresh(this.grant, true);
      return;
    }
    this.statuses.set(mailbox, status);
    let worst: WatcherStatus | undefined;
    let unseen: number | undefined;
    for (const s of this.statuses.values()) {
      if (!worst || SEVERITY.indexOf(s.state) > SEVERITY.indexOf(worst.state)) worst = s;
      if (s.unseen !== undefined) unseen = (unseen ?? 0) + s.unseen;
    }
    // The error text may come from the IMAP server: capped like any field an event carries.
    if (worst) this.publish({ state: worst.state, ...(worst.error ? { error: capText(worst.error, FIELD_CAPS.error) } : {}), ...(unseen !== undefined ? { unseen } : {}) });
  }

  /** Stores the account's state, and tells its user when the state itself changed. */
  private publish(next: { state: AccountState; error?: string; unseen?: number }): void {
    const previous = this.published;
    const stateChanged = previous?.state !== next.state || previous?.error !== next.error;
    if (!stateChanged && previous?.unseen === next.unseen) return;
    this.published = { state: next.state, error: next.error, unseen: next.unseen };
    const ref = this.lease;
    const writes: Array<Promise<unknown>> = [
      this.deps.accounts.setState(ref, {
        state: next.state,
        lastError: next.error ?? null,
        ...(next.unseen !== undefined ? { unseen: next.unseen } : {}),
      }),
    ];
    if (stateChanged) {
      const event: NewEvent<'account.state'> = {
        type: 'account.state',
        accountId: ref.accountId,
        mailbox: null,
        time: new Date().toISOString(),
        data: { state: next.state, ...(next.error ? { error: next.error } : {}) },
      };
      writes.push(appendThenPush(this.deps.eventLog, this.deps.pushes, { lease: ref, events: [event] }));
    }
    Promise.all(writes).catch((error: unknown) => {
      this.deps.log.warn({ accountId: ref.accountId, err: (error as Error).message }, 'could not store account state');
    });
  }
}
