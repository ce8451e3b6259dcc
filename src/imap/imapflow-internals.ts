// The parts of imapflow below its public API that mailpush needs for commands imapflow does not
// have (NOTIFY, a bounded LIST): its command registry, exec() and its untagged handlers. They are
// marked @internal there; this is the one module that knows their shape, so an imapflow upgrade
// that changes them breaks here (and in test/unit/imap-notify.test.ts), not all over.

import type { ImapFlow } from 'imapflow';
import imapCommands from 'imapflow/lib/imap-commands.js';

/** A token as imapflow's command compiler takes it (`sensitive`: never in its debug log). */
export type Token = { type: 'ATOM' | 'STRING'; value: string; sensitive?: boolean } | Token[];

/** imapflow's parsed untagged response, e.g. `* STATUS <mailbox> (<item> <value> …)`. */
export interface UntaggedResponse {
  command?: string;
  attributes?: unknown[];
}

export type UntaggedHandler = (untagged: UntaggedResponse) => Promise<void>;

export interface ImapFlowInternals {
  exec(command: string, attributes: Token[], options: { untagged?: Record<string, UntaggedHandler>; onPlusTag?: () => Promise<void> }): Promise<{ next(): void }>;
  run(command: string, ...args: unknown[]): Promise<unknown>;
  /** Writes a line (CRLF added) outside any command: a continuation's answer. */
  write(line: string): void;
  /** The mechanisms a login used, by name (imapflow records its own). */
  authCapabilities: Map<string, boolean>;
  /** Handlers of untagged responses no running command claims (EXISTS, EXPUNGE, …), per connection. */
  untaggedHandlers: Record<string, UntaggedHandler | null | undefined>;
}

export const internals = (client: ImapFlow) => client as unknown as ImapFlowInternals;

/**
 * Adds a command to imapflow's registry (one Map for every connection) under a name no IMAP
 * command has, and returns the name to give ImapFlow#run(). Through run() our command ends a
 * running IDLE first and lets it start again afterwards, as imapflow's own commands do.
 */
export function registerCommand<A extends unknown[]>(name: string, handler: (connection: ImapFlowInternals, ...args: A) => Promise<unknown>): string {
  if (!imapCommands.has(name)) imapCommands.set(name, handler as unknown as (connection: ImapFlow, ...args: unknown[]) => Promise<unknown>);
  return name;
}
