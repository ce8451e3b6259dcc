// What each of a worker's thousands of IDLE connections need not keep for itself. Measured in V8
// heap snapshots of 1,000 TLS accounts (docs/benchmarks.md, "What an account keeps"): imapflow gives every
// connection its own copy of the server's capability list (a Map of ~40 names, the parsed list
// behind it, and the server's whole LOGIN answer, kept alive because the names are slices of it),
// and its own logger of seven closures even with `logger: false`. Connections to the same server
// get the same list, and a gateway logs nothing through imapflow.
//
// Both reach below imapflow's public API (`getLogger` is @internal there, and the capability
// fields are replaced from outside): an imapflow upgrade that renames them makes this save nothing,
// and the sharing test in test/integration/imap-variants.test.ts fail, without changing what a
// connection does.
//
// And what each login and SELECT need not wait for: a second ID, the "+" before the password, a
// LIST and an LSUB (docs/benchmarks.md, "An allocator that packs TLS state" and "Fewer round trips
// and fewer writes per login"). The first two are skipped in imapflow's @internal `run`, the last
// two through its folder cache; the NOTIFY test's recording proxy checks what a login sends.

import { ImapFlow } from 'imapflow';
import { getErrorText, getStatusCode, isServerRefusal } from 'imapflow/lib/tools.js';
import type { ImapFlowInternals } from './imapflow-internals.js';

const noop = () => undefined;

/** imapflow's logger interface, silent, one object for every connection. */
const SILENT_LOGGER = Object.freeze({
  trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop,
  isLevelEnabled: () => false,
});

/**
 * An ImapFlow that shares one silent logger instead of building its own (mailpush passes
 * `logger: false`), and logs in with two round trips fewer than imapflow by itself (see `run`).
 */
export class LeanImapFlow extends ImapFlow {
  /** imapflow calls this from its constructor; see the module comment. */
  getLogger(): typeof SILENT_LOGGER {
    return SILENT_LOGGER;
  }

  /**
   * imapflow's command entry point (@internal there), for two of the steps of its login:
   * - ID is sent once, after the login. imapflow sends it before the login and, when the answer
   *   names fewer than two things (Dovecot's names only itself), again after it. The answer is only
   *   read for the server's name; servers that require ID at all (NetEase) take it after the login.
   * - A password goes with AUTHENTICATE PLAIN as an initial response (SASL-IR, RFC 4959) where the
   *   server offers it, as Dovecot and Gmail do: imapflow sends the command alone and the
   *   credentials after the server's "+" (RFC 3501's way, a round trip more).
   * Each is a round trip less for both sides per login: at a worker's start, thousands.
   */
  async run(command: string, ...args: unknown[]): Promise<unknown> {
    const name = command.toUpperCase();
    if (name === 'ID' && this.state === this.states.NOT_AUTHENTICATED) return undefined;
    const auth = args[1] as { password?: unknown; loginMethod?: unknown; authzid?: unknown } | undefined;
    if (name === 'AUTHENTICATE' && typeof args[0] === 'string' && typeof auth?.password === 'string' && !auth.loginMethod && !auth.authzid
      && this.capabilities.has('SASL-IR') && this.capabilities.has('AUTH=PLAIN') && this.state === this.states.NOT_AUTHENTICATED) {
      return authenticatePlain(this as unknown as ImapFlowInternals, args[0], auth.password);
    }
    return (ImapFlow.prototype as unknown as ImapFlowInternals).run.call(this, command, ...args);
  }
}

/**
 * `AUTHENTICATE PLAIN <initial response>`: the credentials ride on the command. Resolves with the
 * user name, as imapflow's own PLAIN does; a refusal is marked as imapflow marks one (the server's
 * response code, `authenticationFailed` only for a tagged NO or BAD), so it is classified the same.
 */
async function authenticatePlain(connection: ImapFlowInternals, user: string, password: string): Promise<string> {
  const credentials = Buffer.from(`\0${user}\0${password}`).toString('base64');
  try {
    const response = await connection.exec('AUTHENTICATE', [{ type: 'ATOM', value: 'PLAIN' }, { type: 'ATOM', value: credentials, sensitive: true }], {
      // A server that asks anyway did not take the initial response: it gets the credentials again.
      onPlusTag: async () => connection.write(credentials),
    });
    response.next();
    connection.authCapabilities.set('AUTH=PLAIN', true);
    return user;
  } catch (error) {
    const failure = error as { response?: unknown; serverResponseCode?: string; authenticationFailed?: boolean };
    const code = getStatusCode(failure.response as Parameters<typeof getStatusCode>[0]);
    if (code) failure.serverResponseCode = code;
    if (isServerRefusal(failure as Parameters<typeof isServerRefusal>[0])) failure.authenticationFailed = true;
    failure.response = await getErrorText(failure.response as Parameters<typeof getErrorText>[0]);
    throw error;
  }
}

/** Distinct capability lists kept; a server that answers each login differently cannot grow it past this. */
export const SHARED_CAPABILITY_LISTS = 64;

/**
 * A list longer than this (as JSON) stays the connection's own: Dovecot's is ~1 KiB, Gmail's less,
 * and a hostile server may send megabytes, which the cache would otherwise keep after it left.
 */
export const SHARED_CAPABILITY_LIST_CHARS = 16 * 1024;

interface CapabilityFields {
  capabilities: Map<string, boolean | number>;
  rawCapabilities: unknown;
}

const sharedLists = new Map<string, CapabilityFields>();

/**
 * Points a logged-in connection's capability fields at one copy shared by every connection that
 * got the same list. Safe because, once logged in, imapflow only ever replaces these fields (a new
 * CAPABILITY answer builds a new Map); it changes them in place only across STARTTLS, before login.
 */
export function shareCapabilities(client: ImapFlow): void {
  const fields = client as unknown as CapabilityFields;
  if (!(fields.capabilities instanceof Map) || fields.capabilities.size === 0) return;
  const key = JSON.stringify([[...fields.capabilities], fields.rawCapabilities ?? null]);
  if (key.length > SHARED_CAPABILITY_LIST_CHARS) return;
  let shared = sharedLists.get(key);
  if (!shared) {
    // Fresh strings (parsed from the key), so the shared copy does not keep this connection's
    // LOGIN answer alive either.
    const [entries, raw] = JSON.parse(key) as [Array<[string, boolean | number]>, unknown];
    shared = { capabilities: new Map(entries), rawCapabilities: raw };
    if (sharedLists.size >= SHARED_CAPABILITY_LISTS) sharedLists.delete(sharedLists.keys().next().value!);
    sharedLists.set(key, shared);
  }
  fields.capabilities = shared.capabilities;
  fields.rawCapabilities = shared.rawCapabilities;
}

/**
 * `client.mailboxOpen()` without the LIST and LSUB imapflow sends first. imapflow lists a mailbox
 * it has not listed on this connection only to copy its delimiter, special use and subscription
 * into the object SELECT returns, which no watcher reads: two round trips per login, the LSUB
 * making Dovecot read the user's subscriptions. In the bring-up profile of 10,000 TLS accounts they
 * were 3.3 % of the worker's time (docs/benchmarks.md, "An allocator that packs TLS state"). The
 * mailbox is entered in imapflow's cache of listed folders under the path imapflow would look up
 * (INBOX in any case, other names with the personal namespace's prefix); a name it normalizes
 * otherwise is simply listed as before. A mailbox that does not exist still fails at the SELECT,
 * with the server's NO.
 */
export function openMailbox(client: ImapFlow, mailbox: string, options?: Parameters<ImapFlow['mailboxOpen']>[1]): ReturnType<ImapFlow['mailboxOpen']> {
  const { folders, namespace } = client as unknown as { folders?: unknown; namespace?: { prefix?: string } };
  const prefix = namespace?.prefix;
  const path = mailbox.toUpperCase() === 'INBOX' ? 'INBOX' : prefix && !mailbox.startsWith(prefix) ? prefix + mailbox : mailbox;
  if (folders instanceof Map && !folders.has(path)) folders.set(path, { path });
  return client.mailboxOpen(mailbox, options);
}
