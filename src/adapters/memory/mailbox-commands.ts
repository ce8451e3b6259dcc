// Commands to an account's holder within one process (embedded mode): the web routes and the
// worker share it, so a command is a call to the handler, bounded by the same deadline as over Redis.

import { formatAccountRef, type AccountRef } from '../../core/account-ref.js';
import type { MailboxCommand, MailboxCommandOutcome, MailboxReply } from '../../core/mailbox-command.js';
import type { MailboxCommands } from '../../core/ports.js';

type Handler = (command: MailboxCommand) => Promise<MailboxReply>;

export class MemoryMailboxCommands implements MailboxCommands {
  private readonly handlers = new Map<string, Handler>();

  async request(ref: AccountRef, command: MailboxCommand, deadlineAt: number): Promise<MailboxCommandOutcome> {
    const handler = this.handlers.get(formatAccountRef(ref));
    if (!handler) return { ok: false, reason: 'no_holder' };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<MailboxCommandOutcome>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, reason: 'timeout' }), Math.max(0, deadlineAt - Date.now()));
    });
    const answered = handler(command).then(
      (reply): MailboxCommandOutcome => ({ ok: true, reply }),
      (error: unknown): MailboxCommandOutcome => ({ ok: true, reply: { status: 'failed', message: (error as Error).message } }),
    );
    try {
      return await Promise.race([answered, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async serve(ref: AccountRef, handler: Handler): Promise<() => Promise<void>> {
    const key = formatAccountRef(ref);
    this.handlers.set(key, handler);
    return async () => {
      if (this.handlers.get(key) === handler) this.handlers.delete(key);
    };
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
