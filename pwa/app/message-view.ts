// One message, read-only: what a tapped notification opens (#/message/<account>/<uid>?mailbox=&uidValidity=).
// The gateway reads it from the mailbox on demand and sends text only (HTML is turned into text
// there), which goes in through textContent: nothing of the sender's can run or load here.

import { Api, describeError, type MessageAction, type MessageView as Message } from './api.js';
import { byId, el, say } from './dom.js';
import { fullTime, t } from './i18n.js';

/** Which message a screen shows: what the route (src/protocol/messages.ts messageRoute) names. */
export interface MessageRef {
  accountId: string;
  mailbox: string;
  uid: number;
  uidValidity: number;
}

/** Which message a #/message/… address names; undefined for one that names none. */
export function messageFromHash(hash: string): MessageRef | undefined {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?');
  const [view, account, uidText] = path.split('/');
  const params = new URLSearchParams(query);
  const uid = Number(uidText);
  const uidValidity = Number(params.get('uidValidity'));
  if (view !== 'message' || !account || !Number.isInteger(uid) || uid < 1 || !Number.isInteger(uidValidity) || uidValidity < 1) return undefined;
  return { accountId: decodeURIComponent(account), uid, uidValidity, mailbox: params.get('mailbox') || 'INBOX' };
}

export class MessageView {
  private readonly status = byId('message-status');
  private readonly body = byId('message-body');
  private shown: MessageRef | undefined;

  constructor(private readonly api: Api) {
    byId('message-seen').addEventListener('click', () => void this.act('seen'));
    byId('message-delete').addEventListener('click', () => void this.act('delete'));
  }

  async show(hash: string): Promise<void> {
    const wanted = messageFromHash(hash);
    this.shown = wanted;
    this.body.hidden = true;
    byId('message-actions').hidden = true;
    if (!wanted) {
      say(this.status, t('error.not_found'));
      return;
    }
    say(this.status, t('message.loading'));
    try {
      const message = await this.api.message(wanted.accountId, wanted.uid, wanted.mailbox, wanted.uidValidity);
      if (this.shown !== wanted) return; // another message was opened meanwhile
      this.render(message);
      say(this.status, message.truncated ? t('message.truncated') : undefined);
    } catch (error) {
      if (this.shown === wanted) say(this.status, describeError(error));
    }
  }

  private render(message: Message): void {
    byId('message-subject').textContent = message.subject || t('message.noSubject');
    const headers = byId('message-headers');
    headers.replaceChildren();
    const people = (list: Array<{ name: string; address: string }>) => list.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ');
    const rows: Array<[string, string]> = [
      [t('message.from'), people(message.from)],
      [t('message.to'), people(message.to)],
      [t('message.cc'), people(message.cc)],
      [t('message.date'), message.date ? fullTime(message.date) : ''],
    ];
    for (const [label, value] of rows) if (value) headers.append(el('dt', { text: label }), el('dd', { text: value }));
    byId('message-text').textContent = message.text;
    const webmail = byId<HTMLAnchorElement>('message-webmail');
    // The gateway accepts only https templates; checked again so no other scheme can become a link.
    const link = message.webmailUrl?.startsWith('https://') ? message.webmailUrl : undefined;
    if (link) webmail.href = link;
    else webmail.removeAttribute('href');
    webmail.hidden = !link;
    this.body.hidden = false;
    byId('message-actions').hidden = false;
  }

  private async act(action: MessageAction): Promise<void> {
    const message = this.shown;
    if (!message) return;
    try {
      await this.api.messageAction(message.accountId, message.uid, message.mailbox, message.uidValidity, action);
      say(this.status, t(action === 'seen' ? 'message.markedRead' : 'message.deleted'), 'ok');
      if (action === 'delete') {
        this.body.hidden = true;
        byId('message-actions').hidden = true;
      }
    } catch (error) {
      say(this.status, describeError(error));
    }
  }
}
