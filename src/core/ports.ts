// The narrow interfaces the roles depend on. The Redis adapter implements them today; an in-memory
// adapter (embedded mode) implements the same ones, so nothing above this line knows which it has.

import type { AccountRef } from './account-ref.js';
import type { MailboxCommand, MailboxCommandOutcome, MailboxReply } from './mailbox-command.js';
import type { LiveEvent } from './live-event.js';
import type { AccountRecord, AccountState, MailEvent, NewEvent } from './types.js';
import type { QuietHours } from '../protocol/quiet-hours.js';

/** Highest UID already notified in one mailbox, valid only under its UIDVALIDITY. */
export interface Watermark {
  uidValidity: string;
  lastUid: number;
}

/** Proof that a worker holds an account; `fence` increases with every new holder. */
export interface Lease extends AccountRef {
  workerId: string;
  fence: number;
}

export interface AppendRequest {
  lease: Lease;
  events: NewEvent[];
  /** Moves one mailbox's watermark in the same atomic step as the append. */
  watermark?: { mailbox: string; expected: Watermark | undefined; next: Watermark };
  /**
   * Per event, whether a Web Push is to be queued for it once the append succeeded. A durable
   * PushOutbox sharing this log's storage records those as pending in the same atomic step (when
   * the user has subscriptions), until PushOutbox.markQueued. Set by the push hand-off
   * (push/push-handoff.ts), which the worker calls around each append.
   */
  pushable?: boolean[];
}

export type AppendResult =
  | { ok: true; ids: string[] }
  /** Another worker holds the account now: this one must stop touching it. */
  | { ok: false; reason: 'lease_lost' }
  /** The watermark is not what the caller read: re-read it and fetch again. */
  | { ok: false; reason: 'watermark_moved' };

export interface EventLog {
  append(request: AppendRequest): Promise<AppendResult>;
  /** Events after `since` (exclusive), oldest first. */
  read(userId: string, since: string | undefined, limit: number): Promise<MailEvent[]>;
  /** Id of the user's newest event, so a fresh stream knows where "now" is. */
  latestId(userId: string): Promise<string | undefined>;
  /** True when events after `since` may have been trimmed away by retention. */
  isTrimmedAfter(userId: string, since: string): Promise<boolean>;
  watermark(ref: AccountRef, mailbox: string): Promise<Watermark | undefined>;
  /**
   * Called when storage may have lost writes it had acknowledged: a Redis primary failed (its
   * replica, promoted, may lack the last appends and their watermark moves) or a Redis came back.
   * A writer must then re-read its watermarks and fetch again from them. Absent where acknowledged
   * writes are never lost (the embedded stores).
   */
  onWritesMayBeLost?(listener: () => void): void;
}

/**
 * Pushes between the append of their event and the push queue. The append records them as pending
 * (see AppendRequest.pushable) in the same atomic step as the events, the worker marks them queued
 * once the queue has the jobs, and an account's next holder queues whatever a worker that died in
 * between left behind, before it appends anything itself.
 */
export interface PushOutbox {
  /**
   * False for an outbox that keeps nothing: pending() is then always empty. Right where the push
   * queue does not outlive the process either (the embedded memory queue): a crash loses queued
   * pushes too, so remembering the unqueued ones would not make pushes survive it.
   */
  readonly durable: boolean;
  /** The account's events whose pushes are pending (appended, not yet marked queued), oldest first. */
  pending(ref: AccountRef): Promise<MailEvent[]>;
  /** The queue has these events' pushes: pending() no longer returns them. Unknown ids are ignored. */
  markQueued(ref: AccountRef, eventIds: string[]): Promise<void>;
}

/** Live delivery of appended events to the web processes. */
export interface LiveFeed {
  /** Resolves once the subscription is active, so a replay started afterwards cannot miss a live event. */
  subscribe(userId: string, listener: (event: LiveEvent) => void): Promise<() => Promise<void>>;
  /** Called when the feed's connection came back: live events may have been missed meanwhile. */
  onReconnect(listener: () => void): void;
  close(): Promise<void>;
}

export interface AccountStatePatch {
  state: AccountState;
  lastError?: string | null;
  unseen?: number;
}

export interface AccountChanges {
  sealedPassword?: string;
  mailboxes?: string[];
  disabled?: boolean;
  /** A new webmail URL template; null removes it. */
  webmailUrl?: string | null;
}

export interface AccountStore {
  /** Stores a new account unless the user already has one for the same mailbox identity. */
  /**
   * Stores a new account unless its mailbox identity (host|port|login) is registered already, by
   * this user or any other: one mailbox is one account, so one IMAP session, gateway-wide.
   */
  create(record: AccountRecord, identity: string): Promise<'created' | 'exists'>;
  /** The account that holds this mailbox identity, whoever owns it. */
  findMailbox(identity: string): Promise<AccountRef | undefined>;
  get(ref: AccountRef): Promise<AccountRecord | undefined>;
  listForUser(userId: string): Promise<AccountRecord[]>;
  update(ref: AccountRef, changes: AccountChanges): Promise<AccountRecord | undefined>;
  setState(ref: AccountRef, patch: AccountStatePatch): Promise<void>;
  /** Removes the account with its credentials and watermarks. */
  delete(ref: AccountRef): Promise<boolean>;
  count(): Promise<number>;
  /** Every account reference, in pages; `cursor` '0' starts and ends the walk. */
  scan(cursor: string): Promise<{ cursor: string; refs: AccountRef[] }>;
}

export interface UserStore {
  /** Creates a user with one device, reachable by the given token hash; returns the new user id. */
  create(tokenHash: string, deviceName?: string): Promise<string>;
  /** The user of a device token. */
  findByToken(tokenHash: string): Promise<string | undefined>;
  /** True while the user exists (it was created and not deleted). */
  exists(userId: string): Promise<boolean>;
  /**
   * Erases the user and everything it owns: devices (their tokens stop working first), accounts
   * with watermarks and leases, events, push subscriptions and pending pushes, pairing codes.
   * Telling workers and web processes is the caller's part. False when there was no such user.
   */
  delete(userId: string): Promise<boolean>;
}

/** A device as stored: one bearer token (as its hash) of one user. */
export interface DeviceRecord {
  id: string;
  userId: string;
  name: string;
  tokenHash: string;
  createdAt: string;
  lastSeenAt: string;
}

export interface DeviceStore {
  /** Adds a device to an existing user; undefined when the user no longer exists. */
  add(userId: string, tokenHash: string, name: string): Promise<DeviceRecord | undefined>;
  findByToken(tokenHash: string): Promise<DeviceRecord | undefined>;
  list(userId: string): Promise<DeviceRecord[]>;
  rename(userId: string, deviceId: string, name: string): Promise<DeviceRecord | undefined>;
  /** Records use of the device (callers throttle it); nothing for a device that is gone. */
  touch(userId: string, deviceId: string, at: string): Promise<void>;
  /** Removes the device and its token (and its quiet hours) at once. False when the user has no such device. */
  delete(userId: string, deviceId: string): Promise<boolean>;
  /**
   * The quiet hours of the user's devices that have set any, by device id: one read, because the
   * push path asks it for every new mail (alongside the user's push subscriptions).
   */
  quietHours(userId: string): Promise<Map<string, QuietHours>>;
  /** Saves a device's quiet hours; false when the user has no such device (nothing is stored then). */
  setQuietHours(userId: string, deviceId: string, quietHours: QuietHours): Promise<boolean>;
}

/** Single-use pairing codes, kept only as hashes and only until they expire. */
export interface PairingStore {
  create(userId: string, codeHash: string, expiresAtMs: number): Promise<void>;
  /**
   * Uses up the code: the first claim of a live code gets its user id, every later one (and any
   * claim of an unknown or expired code) undefined.
   */
  claim(codeHash: string, nowMs: number): Promise<string | undefined>;
}

/** What an OAuth sign-in keeps between its requests: the pending authorization, the handoff. */
export type OAuthFlowKind = 'state' | 'handoff';

/**
 * Short-lived, single-use records of the OAuth sign-in, keyed by the SHA-256 of a random code the
 * browser carries (the `state`, the handoff code), so a copy of the store cannot replay them.
 */
export interface OAuthFlowStore {
  put(kind: OAuthFlowKind, keyHash: string, value: string, expiresAtMs: number): Promise<void>;
  /** Uses the record up: the first take of a live record gets its value, every later one undefined. */
  take(kind: OAuthFlowKind, keyHash: string, nowMs: number): Promise<string | undefined>;
}

/**
 * Attempts of one kind per client, counted in windows shared by every web process. The caller
 * decides what counts: wrong pairing codes per address ("pairing"; unlike a request rate limit,
 * what succeeds does not count, so a person who pairs a device is not one step nearer a 429), or
 * every login check per mailbox ("mailbox-login", see mailbox-login-budget.ts).
 */
export interface AttemptCounter {
  /** Attempts of this kind (e.g. "pairing") from this client in its current window. */
  count(kind: string, client: string): Promise<number>;
  /** Records an attempt; the window starts with the first one and lasts `windowMs`. Returns the new count. */
  record(kind: string, client: string, windowMs: number): Promise<number>;
  /** How long this client's current window still lasts, in ms; 0 when it has none. */
  windowLeftMs(kind: string, client: string): Promise<number>;
}

/** A device's tokens stopped working: every web process closes its streams. No deviceId: all of the user's. */
export interface DeviceRevocation {
  userId: string;
  deviceId?: string;
}

/**
 * One message to every process that listens, at most once and only to those listening now: for
 * news a late or missed listener can also learn another way (a scan, the next request).
 */
export interface BroadcastChannel<Message> {
  publish(message: Message): Promise<void>;
  subscribe(listener: (message: Message) => void): Promise<void>;
  close(): Promise<void>;
}

/** Tells every web process at once that devices were removed, so their open streams close. */
export type RevocationBus = BroadcastChannel<DeviceRevocation>;

export interface LeaseManager {
  acquire(ref: AccountRef, workerId: string, ttlMs: number): Promise<Lease | undefined>;
  /**
   * Extends every lease in one go (a worker renews thousands at once); for each, in order, false
   * when it was lost (expired and taken, or released).
   */
  renew(leases: readonly Lease[], ttlMs: number): Promise<boolean[]>;
  release(lease: Lease): Promise<void>;
  /** The id of the worker holding the account, if any. */
  holder(ref: AccountRef): Promise<string | undefined>;
}

export type AccountChangeKind = 'created' | 'updated' | 'deleted';

export interface AccountChange extends AccountRef {
  kind: AccountChangeKind;
}

/** Accounts were let go (a worker stopped or shed load): others should claim them now. */
export interface RebalanceRequest {
  kind: 'rebalance';
  from: string;
}

export type ControlMessage = AccountChange | RebalanceRequest;

/** Tells workers at once that an account was created, changed or deleted, or released. */
export type ControlBus = BroadcastChannel<ControlMessage>;

export interface WorkerInfo {
  workerId: string;
  host: string;
  pid: number;
  startedAt: string;
  /** Accounts held right now. */
  accounts: number;
  capacity: number;
  /** Last heartbeat (ms since epoch). */
  seenAt: number;
}

/** Live workers announce themselves, so each can compute its fair share of the accounts. */
export interface WorkerRegistry {
  heartbeat(info: WorkerInfo): Promise<void>;
  /** Workers seen within `maxAgeMs`; older entries are dropped. */
  live(maxAgeMs: number): Promise<WorkerInfo[]>;
  remove(workerId: string): Promise<void>;
}

export type PreviewLevel = import('../protocol/accounts.js').PreviewLevel;

export interface PushSubscriptionRecord {
  id: string;
  userId: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
  expirationTime: number | null;
  /** The device that registered it: removing the device removes its subscriptions. Absent for older ones. */
  deviceId?: string;
  /** Account ids whose mail this subscription wants; empty means all of the user's accounts. */
  accounts: string[];
  preview: PreviewLevel;
  createdAt: string;
  updatedAt: string;
}

export interface PushSubscriptionStore {
  /** Adds a subscription, or updates the one with the same endpoint; 'limit' when the user has too many. */
  upsert(record: PushSubscriptionRecord, maxPerUser: number): Promise<{ record: PushSubscriptionRecord; created: boolean } | 'limit'>;
  list(userId: string): Promise<PushSubscriptionRecord[]>;
  get(userId: string, id: string): Promise<PushSubscriptionRecord | undefined>;
  delete(userId: string, id: string): Promise<boolean>;
}

/**
 * A mail server's word that a message was delivered (Dovecot's push_notification, through
 * POST /v1/hooks/dovecot). Only a hint: it wakes the account's watcher, which reads what is new
 * from IMAP itself, so a forged or repeated hint can never invent, repeat or reorder mail.
 */
export interface MailHint {
  /** The IMAP host the account logs in to (lowercase), as the hook URL names it. */
  host: string;
  /** The login Dovecot was told (the http-notify METADATA value's user=). */
  login: string;
  /** The mailbox the message went to. */
  mailbox: string;
  uidValidity: number;
  /** 0 when the server did not know it yet (Dovecot under concurrent deliveries): "something new". */
  uid: number;
  /** When the hook received it (ms since epoch), to time hint → mail.new. */
  receivedAt: number;
}

/** Which watcher a hint is for: routed by IMAP host and login, never by anything else. */
export interface HintAddress {
  host: string;
  login: string;
}

/**
 * Carries hints from whichever web process Dovecot reached to the worker holding the account. A
 * worker listens for the accounts it holds only, so a hint reaches exactly the lease holder(s).
 */
export interface HintBus {
  /** Sends the hint on; resolves with how many listeners (held accounts) it reached. */
  publish(hint: MailHint): Promise<number>;
  /** Listens for one host+login; resolves once listening, with what stops it. */
  subscribe(address: HintAddress, listener: (hint: MailHint) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * Request and reply between a web process and the worker holding an account: the web asks
 * (mark read, delete, read a message), the holder runs it over IMAP and answers. Addressed by
 * account, so it reaches the lease holder and nobody else; like HintBus, a holder listens only
 * for the accounts it holds. Nothing is queued: a command nobody hears is answered `no_holder`
 * at once, one not answered by `deadlineAt` `timeout`, and the caller decides what to tell.
 */
export interface MailboxCommands {
  /** Sends the command to the account's holder and waits for the reply until `deadlineAt` (epoch ms). */
  request(ref: AccountRef, command: MailboxCommand, deadlineAt: number): Promise<MailboxCommandOutcome>;
  /**
   * Answers the account's commands with `handler` (the lease holder, while it holds it); resolves
   * once listening, with what stops it. A handler that throws answers `failed`.
   */
  serve(ref: AccountRef, handler: (command: MailboxCommand) => Promise<MailboxReply>): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
