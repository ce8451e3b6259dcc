// Which account: a user's id and one of that user's account ids. Account ids are only unique per
// user, so an account is always named by both. Its text form "<userId>/<accountId>" (Redis's account
// registry, the maps of held leases and running sessions) is built and read only here.

export interface AccountRef {
  userId: string;
  accountId: string;
}

/** "<userId>/<accountId>". */
export function formatAccountRef(ref: AccountRef): string {
  return `${ref.userId}/${ref.accountId}`;
}

/** The other side of formatAccountRef: undefined for text without a user id before a "/". */
export function parseAccountRef(text: string): AccountRef | undefined {
  const slash = text.indexOf('/');
  if (slash <= 0) return undefined;
  return { userId: text.slice(0, slash), accountId: text.slice(slash + 1) };
}
