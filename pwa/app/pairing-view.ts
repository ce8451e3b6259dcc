// "I have a pairing code": a device that is not signed in claims a code another device of the same
// person asked for. Opening the QR code's link (/#/pair?code=…) fills the code in and asks first —
// a link alone must not sign a device in to someone's mailbox without its holder pressing the button.

import { Api, describeError } from './api.js';
import { byId, say } from './dom.js';
import { t } from './i18n.js';

export interface PairingViewOptions {
  api: Api;
  onPaired(token: string): void;
}

/** The code a pairing link carries: `#/pair?code=K7M3QX9PRT`. */
export function codeFromHash(hash: string): string | undefined {
  const query = hash.split('?')[1];
  return query ? new URLSearchParams(query).get('code') ?? undefined : undefined;
}

export class PairingView {
  private readonly form = byId<HTMLFormElement>('pair-form');
  private readonly code = byId<HTMLInputElement>('pair-code');
  private readonly error = byId('pair-error');
  private readonly submit = byId<HTMLButtonElement>('pair-submit');

  constructor(private readonly options: PairingViewOptions) {
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.claim();
    });
  }

  show(hash: string): void {
    const fromLink = codeFromHash(hash);
    if (fromLink) this.code.value = fromLink;
    byId('pair-lead').textContent = t(fromLink ? 'pair.confirmLead' : 'pair.lead');
    say(this.error, undefined);
  }

  /** A code from a link is there already: the button that confirms it comes first. */
  focus(): void {
    if (this.code.value) this.submit.focus();
    else this.code.focus();
  }

  private async claim(): Promise<void> {
    const code = this.code.value.trim();
    if (!code) {
      say(this.error, t('pair.needCode'));
      this.code.focus();
      return;
    }
    say(this.error, undefined);
    this.submit.disabled = true;
    this.submit.textContent = t('pair.checking');
    let token: string;
    try {
      ({ token } = await this.options.api.claimPairing(code));
    } catch (error) {
      say(this.error, describeError(error));
      this.code.focus();
      return;
    } finally {
      this.submit.disabled = false;
      this.submit.textContent = t('pair.submit');
    }
    this.code.value = '';
    this.options.onPaired(token);
  }
}
