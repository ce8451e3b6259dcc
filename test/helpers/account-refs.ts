// Every account a store holds, read page by page through AccountStore.scan() as the workers do.

import type { AccountRef } from '../../src/core/account-ref.js';
import type { AccountStore } from '../../src/core/ports.js';

export async function allAccountRefs(accounts: Pick<AccountStore, 'scan'>): Promise<AccountRef[]> {
  const refs: AccountRef[] = [];
  let cursor = '0';
  do {
    const page = await accounts.scan(cursor);
    cursor = page.cursor;
    refs.push(...page.refs);
  } while (cursor !== '0');
  return refs;
}
