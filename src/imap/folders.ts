// The folders of a mailbox, for the person choosing which to watch: one short login of their
// own (the web process has no worker connection to ask), a LIST, and out, within
// IMAP_CONNECT_TIMEOUT_SECONDS. Bounded: imapflow's list() would keep up to a million entries of
// whatever the server sends, this keeps MAX_LISTED_FOLDERS and lets the rest go by.

import iconv from 'iconv-lite';
import type { ImapSettings } from '../core/types.js';
import type { MailboxFolder } from '../protocol/accounts.js';
import { connectImap, ImapConnectError, LOGIN_CHECK_LIMITS, withinDeadline, type ImapClientOptions, type ImapCredential } from './client.js';
import { internals, registerCommand, type ImapFlowInternals, type UntaggedResponse } from './imapflow-internals.js';

/** More folders than anyone picks from; a server listing more is cut there (and says so: `truncated`). */
export const MAX_LISTED_FOLDERS = 1000;

const SPECIAL_USES = new Set(['\\All', '\\Archive', '\\Drafts', '\\Flagged', '\\Junk', '\\Sent', '\\Trash']);

function tokenValue(token: unknown): string | undefined {
  const value = (token as { value?: unknown } | null | undefined)?.value;
  return typeof value === 'string' ? value : undefined;
}

/** One `* LIST (<flags>) <delimiter> <name>` line; undefined for a folder that cannot be opened. */
export function parseListLine(untagged: UntaggedResponse): MailboxFolder | undefined {
  const [flagList, , nameToken] = untagged.attributes ?? [];
  const wire = tokenValue(nameToken);
  if (wire === undefined || wire === '' || wire.length > 1000) return undefined;
  const flags = Array.isArray(flagList) ? flagList.map(tokenValue).filter((f): f is string => f !== undefined) : [];
  const lower = flags.map((f) => f.toLowerCase());
  if (lower.includes('\\noselect') || lower.includes('\\nonexistent')) return undefined;
  const name = wire.toUpperCase() === 'INBOX' ? 'INBOX' : wire.includes('&') ? iconv.decode(Buffer.from(wire, 'latin1'), 'utf-7-imap') : wire;
  const specialUse = flags.find((f) => SPECIAL_USES.has(f));
  return { name, ...(specialUse ? { specialUse } : {}) };
}

const BOUNDED_LIST = registerCommand('MAILPUSH-LIST', async (connection: ImapFlowInternals) => {
  const folders: MailboxFolder[] = [];
  let truncated = false;
  const done = await connection.exec('LIST', [{ type: 'STRING', value: '' }, { type: 'STRING', value: '*' }], {
    untagged: {
      LIST: async (untagged) => {
        const folder = parseListLine(untagged);
        if (!folder) return;
        if (folders.length < MAX_LISTED_FOLDERS) folders.push(folder);
        else truncated = true;
      },
    },
  });
  done.next();
  return { folders, truncated };
});

export interface FolderList {
  folders: MailboxFolder[];
  truncated: boolean;
  /** The server has NOTIFY: all watched folders share one connection (more may be watched). */
  notify: boolean;
}

/** Logs in, lists the folders, logs out. Rejects like connectImap (an ImapConnectError). */
export async function listFolders(settings: ImapSettings, credential: ImapCredential, options: ImapClientOptions): Promise<FolderList> {
  const budgetMs = options.config.imap.connectTimeoutMs;
  const deadlineAt = Date.now() + budgetMs;
  const client = await connectImap(settings, credential, options, { deadlineAt, responseLimits: LOGIN_CHECK_LIMITS });
  try {
    const listing = internals(client).run(BOUNDED_LIST).catch((error: { responseText?: string; message?: string }) => {
      throw error instanceof ImapConnectError ? error : new ImapConnectError('unreachable', `the server did not list its folders: ${error.responseText ?? error.message ?? 'LIST failed'}`);
    });
    const listed = (await withinDeadline(client, listing, deadlineAt, budgetMs, 'LIST')) as Omit<FolderList, 'notify'>;
    if (!listed.folders.some((f) => f.name === 'INBOX')) listed.folders.unshift({ name: 'INBOX' });
    return { ...listed, notify: client.capabilities.has('NOTIFY') };
  } finally {
    await withinDeadline(client, client.logout(), deadlineAt, budgetMs).catch(() => client.close());
  }
}
