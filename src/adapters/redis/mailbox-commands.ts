import { randomBytes } from 'node:crypto';
import type { AccountRef } from '../../core/account-ref.js';
import type { MailboxCommand, MailboxCommandOutcome, MailboxReply } from '../../core/mailbox-command.js';
import type { MailboxCommands } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';
import { fanoutChannels, publishFanout, type FanoutChannels } from './channels.js';
import type { RedisClient } from './connection.js';

type Handler = (command: MailboxCommand) => Promise<MailboxReply>;

/** A command as it travels: who to answer, by when, and under which id. */
interface CommandMessage {
  id: string;
  replyTo: string;
  deadlineAt: number;
  command: MailboxCommand;
}

interface ReplyMessage {
  id: string;
  reply: MailboxReply;
}

/**
 * Commands to an account's holder over Redis pub/sub: one channel per account, which only the
 * lease holder subscribes to (so PUBLISH's count says at once whether anyone holds it), and one
 * reply channel per web process. Sharded channels on a cluster (channels.ts), like the hints: the
 * account's channel carries its user's hash tag. Nothing is stored: a command outlives neither
 * its deadline nor the processes, and the caller retries or tells the person.
 */
export class RedisMailboxCommands implements MailboxCommands {
  private readonly instanceId = randomBytes(9).toString('base64url');
  private readonly replyChannel: string;
  private readonly channels: FanoutChannels;
  private readonly handlers = new Map<string, Handler>();
  private readonly pending = new Map<string, (reply: MailboxReply) => void>();
  private listening: Promise<unknown> | undefined;

  constructor(private readonly redis: RedisClient, subscriber: RedisClient, private readonly keys: RedisKeys) {
    this.replyChannel = keys.mailboxReplyChannel(this.instanceId);
    this.channels = fanoutChannels(subscriber);
    this.channels.onMessage((channel, message) => this.dispatch(channel.toString(), message.toString()));
  }

  async request(ref: AccountRef, command: MailboxCommand, deadlineAt: number): Promise<MailboxCommandOutcome> {
    // The reply channel is subscribed once per process, before the first command can be answered.
    this.listening ??= this.channels.subscribe(this.replyChannel).catch((error: unknown) => {
      this.listening = undefined;
      throw error;
    });
    await this.listening;
    const id = randomBytes(9).toString('base64url');
    const answered = new Promise<MailboxReply>((resolve) => this.pending.set(id, resolve));
    let timer: NodeJS.Timeout | undefined;
    try {
      const message: CommandMessage = { id, replyTo: this.replyChannel, deadlineAt, command };
      const heard = await publishFanout(this.redis, this.keys.mailboxCommandChannel(ref.userId, ref.accountId), JSON.stringify(message));
      if (heard === 0) return { ok: false, reason: 'no_holder' };
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, deadlineAt - Date.now()))));
      const reply = await Promise.race([answered, late]);
      return reply === 'late' ? { ok: false, reason: 'timeout' } : { ok: true, reply };
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
  }

  async serve(ref: AccountRef, handler: Handler): Promise<() => Promise<void>> {
    const channel = this.keys.mailboxCommandChannel(ref.userId, ref.accountId);
    this.handlers.set(channel, handler);
    await this.channels.subscribe(channel);
    return async () => {
      if (this.handlers.get(channel) !== handler) return;
      this.handlers.delete(channel);
      await this.channels.unsubscribe(channel).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    this.handlers.clear();
    this.pending.clear();
  }

  private dispatch(channel: string, text: string): void {
    if (channel === this.replyChannel) {
      const parsed = parse<ReplyMessage>(text);
      if (parsed) this.pending.get(parsed.id)?.(parsed.reply);
      return;
    }
    const handler = this.handlers.get(channel);
    if (!handler) return;
    const message = parse<CommandMessage>(text);
    // One nobody waits for any more is not run: its caller has answered 503 already.
    if (!message || Date.now() >= message.deadlineAt) return;
    void handler(message.command)
      .catch((error: unknown): MailboxReply => ({ status: 'failed', message: (error as Error).message }))
      .then((reply) => publishFanout(this.redis, message.replyTo, JSON.stringify({ id: message.id, reply } satisfies ReplyMessage)))
      .catch(() => undefined); // Redis gone: the caller times out, as it would without a holder
  }
}

function parse<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
