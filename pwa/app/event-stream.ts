// The live WebSocket (/v1/stream) that never gives up: on any drop it reconnects with exponential
// backoff and jitter, and each connection asks to resume after the last event the feed stored.
// The gateway then replays what was missed, once and in order; the feed ignores anything at or
// below its last id, so an overlap cannot show twice either.

import { CloseCode, type AuthMessage, type PingMessage, type ServerMessage } from '../../src/protocol/stream.js';
import type { Account, MailEvent } from './api.js';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'offline';

export interface StreamHandlers {
  token(): string | undefined;
  /** The id to resume after: the last event this device stored. */
  since(): string | undefined;
  onReady(accounts: Account[]): void;
  onEvent(event: MailEvent): void;
  /** Events after `since` were dropped by retention: the feed may have a gap. */
  onResyncRequired(): void;
  onState(state: ConnectionState, retryInMs?: number): void;
  /** The token was refused: this device is signed out. */
  onUnauthorized(): void;
  /** The stored `since` was refused as malformed; the next attempt starts from now. */
  onBadResumePoint(): void;
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 15_000;
/**
 * A connection can die without a close event (a phone changing networks, a NAT forgetting it), and
 * a page cannot see protocol pings: it sends {"type":"ping"} this often, and a socket silent for
 * two rounds is given up and replaced.
 */
const PING_EVERY_MS = 25_000;
const SILENCE_LIMIT_MS = 2 * PING_EVERY_MS + 5_000;
const PING = JSON.stringify({ type: 'ping' } satisfies PingMessage);

export class EventStream {
  private socket: WebSocket | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;
  private running = false;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lastHeardAt = 0;

  constructor(private readonly handlers: StreamHandlers) {
    // Coming back online or to the foreground is the best moment to retry: skip the wait.
    addEventListener('online', () => this.retryNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.retryNow();
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    clearInterval(this.heartbeat);
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(CloseCode.normal, 'signed out');
  }

  private retryNow(): void {
    if (!this.running || this.retryTimer === undefined) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.connect();
  }

  private connect(): void {
    const token = this.handlers.token();
    if (!token) return;
    this.handlers.onState(this.failures === 0 ? 'connecting' : 'reconnecting');
    const url = new URL('/v1/stream', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    this.socket = socket;
    // Browsers cannot set headers on a WebSocket: the token (and resume point) go in the first message.
    socket.addEventListener('open', () => {
      const since = this.handlers.since();
      socket.send(JSON.stringify({ type: 'auth', token, ...(since ? { since } : {}) } satisfies AuthMessage));
    });
    socket.addEventListener('message', (message) => {
      if (socket !== this.socket) return;
      this.lastHeardAt = Date.now();
      let parsed: ServerMessage;
      try {
        parsed = JSON.parse(String(message.data)) as ServerMessage;
      } catch {
        return;
      }
      if (parsed?.type === 'ready') {
        this.watch(socket);
        this.failures = 0;
        this.handlers.onState('live');
        this.handlers.onReady(parsed.accounts ?? []);
      } else if (parsed?.type === 'resync_required') {
        this.handlers.onResyncRequired();
      } else if (typeof (parsed as { id?: unknown } | null)?.id === 'string') {
        this.handlers.onEvent(parsed as MailEvent);
      }
    });
    socket.addEventListener('close', (event) => {
      if (socket !== this.socket || !this.running) return;
      this.socket = undefined;
      clearInterval(this.heartbeat);
      if (event.code === CloseCode.unauthorized) {
        this.running = false;
        this.handlers.onUnauthorized();
        return;
      }
      if (event.code === CloseCode.badMessage) this.handlers.onBadResumePoint();
      this.scheduleRetry();
    });
  }

  /** Pings while the socket is live, and replaces it when it has gone silent. */
  private watch(socket: WebSocket): void {
    clearInterval(this.heartbeat);
    this.lastHeardAt = Date.now();
    this.heartbeat = setInterval(() => {
      if (socket !== this.socket) return;
      if (Date.now() - this.lastHeardAt > SILENCE_LIMIT_MS) {
        clearInterval(this.heartbeat);
        this.socket = undefined;
        socket.close(CloseCode.noAnswer, 'no answer to ping');
        this.scheduleRetry();
        return;
      }
      socket.send(PING);
    }, PING_EVERY_MS);
  }

  private scheduleRetry(): void {
    // 0.5 s, 1 s, 2 s … up to 15 s; half of each wait is random so that a gateway restart is not
    // met by every client at the same instant.
    const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.failures);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.failures++;
    this.handlers.onState(navigator.onLine === false ? 'offline' : 'reconnecting', delay);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
  }
}
