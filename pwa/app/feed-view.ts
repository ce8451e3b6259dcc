// Draws the feed: newest on top, unread mail marked, read mail plain. The list is small (at most
// 200 items), so it is simply redrawn whenever the feed changes.

import type { Account } from './api.js';
import { byId, el } from './dom.js';
import type { Feed, FeedItem } from './feed.js';
import { fullTime, shortTime, t } from './i18n.js';

export class FeedView {
  private readonly list = byId<HTMLOListElement>('feed');
  private readonly empty = byId('feed-empty');

  render(feed: Feed, accounts: ReadonlyMap<string, Account>): void {
    this.list.replaceChildren(...feed.items.map((item) => this.item(item, accounts.get(item.accountId))));
    this.empty.hidden = feed.items.length > 0;
  }

  private item(item: FeedItem, account: Account | undefined): HTMLLIElement {
    const where = [account?.email, item.mailbox && item.mailbox !== 'INBOX' ? item.mailbox : undefined].filter(Boolean).join(' · ');
    // The feed stores what the mail said; what the app says about it is rendered in today's language.
    const from = item.kind === 'batch' ? t('feed.newMessages', { count: item.count ?? 0 }) : item.from ?? t('feed.unknownSender');
    const node = el('li', { class: `mail${item.read ? ' read' : ''}`, attrs: { 'data-key': item.key, 'data-event-id': item.eventId } },
      el('div', { class: 'mail-head' },
        el('span', { class: 'mail-from', text: from, ...(item.fromAddress ? { attrs: { title: item.fromAddress } } : {}) }),
        el('time', { class: 'mail-time', text: shortTime(item.time), attrs: { datetime: item.time, title: fullTime(item.time) } })),
      item.kind === 'mail' && el('div', { class: 'mail-subject', text: item.subject ?? t('feed.noSubject') }),
      item.snippet !== undefined && el('div', { class: 'mail-snippet', text: item.snippet }),
      where !== '' && el('div', { class: 'mail-account', text: where }),
    );
    // Read state for screen readers too, not only the colour of a border.
    if (!item.read) node.prepend(el('span', { class: 'visually-hidden', text: `${t('feed.unreadMarker')} ` }));
    return node;
  }
}
