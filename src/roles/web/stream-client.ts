// One authenticated WebSocket: replays what the client missed, then streams live events, never
// one twice and never out of order.
//
// The order of steps is what makes that true: subscribe to the live feed first (buffering), then
// read the log after the client's last id, send it, and only then flush the buffer, skipping
// anything at or below the last id sent. The same dance runs again after the live feed's
// connection comes back, because pub/sub drops what it could not deliver.

import type { WebSocket } from 'ws';
import { canonicalEventId, compareEventIds } from '../../protocol/event-ids.js';
import { CloseCode, type ResyncRequiredMessage } from '../../protocol/stream.js';
import type { LiveEvent } from '../../core/live-event.js';
import type { EventLog } from '../../core/ports.js';

const REPLAY_PAGE = 500;
/** A client that lets this much pile up unread is too slow to keep. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Live JSON arrives as bytes; it still goes out as a text frame. */
const TEXT = { binary: false } as const;
const RESYNC_REQUIRED = JSON.stringify({ type: 'resync_required' } satisfies ResyncRequiredMessage);

export class StreamClient {
  private lastId: string | undefined;
  private buffering = true;
  private pending: LiveEvent[] = [];
  private resuming: Promise<void> = Promise.resolve();

  constructor(
    readonly userId: string,
    private readonly socket: WebSocket,
    private readonly eventLog: EventLog,
  ) {}

  /** Starts the stream: replay after `since` (or from now), then live. */
  async begin(since: string | undefined): Promise<void> {
    if (since && (await this.eventLog.isTrimmedAfter(this.userId, since))) {
      this.sendRaw(RESYNC_REQUIRED);
    }
    this.lastId = since !== undefined ? canonicalEventId(since) : await this.eventLog.latestId(this.userId);
    await this.catchUp();
  }

  /** Live feed delivery: straight through, or held while a replay is running. */
  deliver(event: LiveEvent): void {
    if (this.buffering) {
      this.pending.push(event);
      return;
    }
    this.sendEvent(event.id, event.json);
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
      for (const event of page) this.sendEvent(event.id, JSON.stringify(event));
      if (page.length < REPLAY_PAGE || !this.isOpen()) break;
    }
    const held = this.pending;
    this.pending = [];
    this.buffering = false;
    for (const event of held) this.sendEvent(event.id, event.json);
  }

  private sendEvent(id: string, json: string | Uint8Array): void {
    if (this.lastId !== undefined && compareEventIds(id, this.lastId) <= 0) return;
    this.lastId = id;
    this.sendRaw(json);
  }

  sendRaw(json: string | Uint8Array): void {
    if (!this.isOpen()) return;
    if (this.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.socket.close(CloseCode.tryAgainLater, 'client is not reading; reconnect with since');
      return;
    }
    this.socket.send(json, TEXT);
  }

  private isOpen(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }
}
