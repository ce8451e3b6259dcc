// One authenticated WebSocket: replays what the client missed, then streams live events, never
// one twice and never out of order.
//
// The order of steps is what makes that true: subscribe to the live feed first (buffering), then
// read the log after the client's last id, send it, and only then flush the buffer, skipping
// anything at or below the last id sent. The same dance runs again after the live feed's
// connection comes back, because pub/sub drops what it could not deliver.

import type { WebSocket } from 'ws';
import { canonicalEventId, compareEventIds } from '../../core/event-ids.js';
import { eventJson } from '../../core/event-json.js';
import type { EventLog } from '../../core/ports.js';
import type { MailEvent } from '../../core/types.js';

const REPLAY_PAGE = 500;
/** A client that lets this much pile up unread is too slow to keep. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export const CloseCode = {
  goingAway: 1001,
  tryAgainLater: 1013,
  badMessage: 4400,
  unauthorized: 4401,
} as const;

export class StreamClient {
  private lastId: string | undefined;
  private buffering = true;
  private pending: MailEvent[] = [];
  private resuming: Promise<void> = Promise.resolve();

  constructor(
    readonly userId: string,
    private readonly socket: WebSocket,
    private readonly eventLog: EventLog,
  ) {}

  /** Starts the stream: replay after `since` (or from now), then live. */
  async begin(since: string | undefined): Promise<void> {
    if (since && (await this.eventLog.isTrimmedAfter(this.userId, since))) {
      this.sendRaw(JSON.stringify({ type: 'resync_required' }));
    }
    this.lastId = since !== undefined ? canonicalEventId(since) : await this.eventLog.latestId(this.userId);
    await this.catchUp();
  }

  /** Live feed delivery: straight through, or held while a replay is running. */
  deliver(event: MailEvent): void {
    if (this.buffering) {
      this.pending.push(event);
      return;
    }
    this.sendEvent(event);
  }

  /** Re-reads the log after the last event sent; used after the live feed reconnected. */
  resume(): Promise<void> {
    this.buffering = true;
    this.resuming = this.resuming.then(() => this.catchUp()).catch(() => this.socket.close(CloseCode.tryAgainLater, 'replay failed'));
    return this.resuming;
  }

  private async catchUp(): Promise<void> {
    this.buffering = true;
    for (;;) {
      const page = await this.eventLog.read(this.userId, this.lastId, REPLAY_PAGE);
      for (const event of page) this.sendEvent(event);
      if (page.length < REPLAY_PAGE || !this.isOpen()) break;
    }
    const held = this.pending;
    this.pending = [];
    this.buffering = false;
    for (const event of held) this.sendEvent(event);
  }

  private sendEvent(event: MailEvent): void {
    if (this.lastId !== undefined && compareEventIds(event.id, this.lastId) <= 0) return;
    this.lastId = event.id;
    this.sendRaw(eventJson(event));
  }

  sendRaw(json: string): void {
    if (!this.isOpen()) return;
    if (this.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.socket.close(CloseCode.tryAgainLater, 'client is not reading; reconnect with since');
      return;
    }
    this.socket.send(json);
  }

  private isOpen(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }
}
