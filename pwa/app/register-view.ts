// Registering a mailbox: email and password up front, the IMAP server folded away and pre-filled
// from the gateway's defaults. The gateway proves the login before it stores anything, so the
// answer is either a watched account or an error code we turn into a sentence.

import { Api, describeError, type Account, type ImapSecurity, type PublicConfig } from './api.js';
import { byId, say } from './dom.js';
import { t, type PlainKey } from './i18n.js';

export interface RegisterViewOptions {
  api: Api;
  /** Signed out, the form signs in (POST /v1/sessions) and a device token comes back; signed in, it adds a mailbox. */
  onRegistered(account: Account, token: string | undefined): void;
}

export class RegisterView {
  private readonly form = byId<HTMLFormElement>('register-form');
  private readonly email = byId<HTMLInputElement>('register-email');
  private readonly password = byId<HTMLInputElement>('register-password');
  private readonly server = byId<HTMLDetailsElement>('register-server');
  private readonly host = byId<HTMLInputElement>('register-host');
  private readonly port = byId<HTMLInputElement>('register-port');
  private readonly security = byId<HTMLSelectElement>('register-security');
  private readonly error = byId('register-error');
  private readonly submit = byId<HTMLButtonElement>('register-submit');
  private defaults: PublicConfig['imap'] | undefined;
  private signedIn = false;

  constructor(private readonly options: RegisterViewOptions) {
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send();
    });
    // Switching security moves the port with it, unless the user typed one of their own.
    this.security.addEventListener('change', () => {
      const standard = ['993', '143', String(this.defaults?.port ?? '')];
      if (standard.includes(this.port.value) || this.port.value === '') this.port.value = this.security.value === 'tls' ? '993' : '143';
    });
  }

  /** Fills the server fields from GET /v1/config; without a default host, they start unfolded. */
  applyDefaults(config: PublicConfig): void {
    this.defaults = config.imap;
    if (!this.host.value) this.host.value = config.imap.host ?? '';
    if (!this.port.value) this.port.value = String(config.imap.port);
    this.security.value = config.imap.security;
    if (!config.imap.host) this.server.open = true;
  }

  /** Shown as "add another mailbox" once signed in. */
  show(signedIn: boolean): void {
    this.signedIn = signedIn;
    // Signed out, this is the first screen's "Use your mailbox": sign in or register in one step.
    byId('register-title').textContent = t(signedIn ? 'register.titleAnother' : 'start.mailboxTitle');
    byId('register-lead').textContent = t(signedIn ? 'register.lead' : 'start.mailboxLead');
    this.submit.textContent = t(this.submitLabel());
    byId('register-cancel').hidden = !signedIn;
    say(this.error, undefined);
  }

  focus(): void {
    this.email.focus();
  }

  private problem(): { message: string; field: HTMLElement } | undefined {
    if (!this.email.value.trim()) return { message: t('register.needEmail'), field: this.email };
    if (!this.password.value) return { message: t('register.needPassword'), field: this.password };
    if (!this.host.value.trim()) return { message: t('register.needHost'), field: this.host };
    const port = Number(this.port.value);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return { message: t('register.badPort'), field: this.port };
    return undefined;
  }

  private async send(): Promise<void> {
    const problem = this.problem();
    if (problem) {
      if (problem.field === this.host || problem.field === this.port) this.server.open = true;
      say(this.error, problem.message);
      problem.field.focus();
      return;
    }
    say(this.error, undefined);
    this.submit.disabled = true;
    this.submit.textContent = t('register.checking');
    try {
      const mailbox = {
        email: this.email.value.trim(),
        password: this.password.value,
        host: this.host.value.trim(),
        port: Number(this.port.value),
        security: this.security.value as ImapSecurity,
      };
      const { account, token } = await (this.signedIn ? this.options.api.register(mailbox) : this.options.api.signIn(mailbox));
      this.password.value = '';
      this.email.value = '';
      this.options.onRegistered(account, token);
    } catch (error) {
      say(this.error, describeError(error));
      this.password.focus();
    } finally {
      this.submit.disabled = false;
      this.submit.textContent = t(this.submitLabel());
    }
  }

  private submitLabel(): PlainKey {
    return this.signedIn ? 'register.submit' : 'start.mailboxSubmit';
  }
}
