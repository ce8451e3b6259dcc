// Registering a mailbox: email and password up front, the IMAP server folded away and pre-filled
// from the gateway's defaults, then from what the gateway discovers for the address as soon as it
// is typed (unless the person set the server themselves). The gateway proves the login before it
// stores anything, so the answer is either a watched account or an error code we turn into a sentence.
// Mailboxes whose provider the gateway signs in with OAuth (Google, Microsoft 365, …) get a "Sign in
// with <name>" button; when discovery says the address is at one, that button becomes the way in and
// the password field folds away (Microsoft refuses passwords for IMAP altogether).

import { Api, ApiFailure, describeError, type Account, type DiscoveryResult, type ImapSecurity, type OAuthProviderView, type PublicConfig } from './api.js';
import { byId, say } from './dom.js';
import { t, type PlainKey } from './i18n.js';
import { providerButtons, providerName } from './oauth-sign-in.js';

/** How long typing must pause before the address is looked up. */
const DISCOVER_AFTER_PAUSE_MS = 700;

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
  private readonly discovered = byId('register-discovered');
  private readonly providerSlot = byId('register-providers');
  private readonly oauthNote = byId('register-oauth-note');
  private readonly passwordField = byId('register-password-field');
  private readonly usePasswordLine = byId('register-use-password-line');
  private readonly actions = byId('register-actions');
  private providers: readonly OAuthProviderView[] = [];
  /** The provider discovery matched for the typed address (its button leads), and its domain. */
  private suggested: { provider: OAuthProviderView; domain: string } | undefined;
  /** The person chose "Use a password instead" for a suggested provider's address. */
  private passwordChosen = false;
  private defaults: PublicConfig['imap'] | undefined;
  /** The person changed a server field: discovery no longer overwrites them. */
  private serverEdited = false;
  /** The domain last asked about, and the question's number (a later answer wins over a slow earlier one). */
  private askedDomain = '';
  private asked = 0;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private signedIn = false;

  constructor(private readonly options: RegisterViewOptions) {
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send();
    });
    // Ask for the server once the person pauses typing the address, or leaves the field.
    this.email.addEventListener('input', () => {
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(() => void this.discover(), DISCOVER_AFTER_PAUSE_MS);
    });
    this.email.addEventListener('blur', () => {
      clearTimeout(this.typingTimer);
      void this.discover();
    });
    // Only the person's own edits fire these events (the app sets values without them).
    for (const field of [this.host, this.port, this.security]) {
      field.addEventListener('input', () => (this.serverEdited = true));
      field.addEventListener('change', () => (this.serverEdited = true));
    }
    // Switching security moves the port with it, unless the user typed one of their own.
    this.security.addEventListener('change', () => {
      const standard = ['993', '143', String(this.defaults?.port ?? '')];
      if (standard.includes(this.port.value) || this.port.value === '') this.port.value = this.security.value === 'tls' ? '993' : '143';
    });
    byId('register-use-password').addEventListener('click', () => {
      this.passwordChosen = true;
      this.renderSuggestion();
      this.password.focus();
    });
  }

  /** Fills the server fields from GET /v1/config; without a default host, they start unfolded. */
  applyDefaults(config: PublicConfig): void {
    this.defaults = config.imap;
    if (!this.host.value) this.host.value = config.imap.host ?? '';
    if (!this.port.value) this.port.value = String(config.imap.port);
    this.security.value = config.imap.security;
    if (!config.imap.host) this.server.open = true;
    this.providers = config.oauth.providers;
    this.renderProviders();
  }

  /** One button per provider, the suggested one leading. */
  private renderProviders(): void {
    const buttons = providerButtons({
      api: this.options.api,
      providers: this.providers,
      label: this.signedIn ? 'register.oauthAdd' : 'register.oauthSignIn',
      email: () => this.email.value,
      onFailure: (message) => say(this.error, message),
    });
    this.providerSlot.replaceChildren(...buttons);
    this.providerSlot.hidden = buttons.length === 0;
    this.renderSuggestion();
  }

  private renderSuggestion(): void {
    const suggested = this.suggested?.provider.id;
    for (const button of this.providerSlot.querySelectorAll<HTMLButtonElement>('button')) {
      const leads = button.dataset.provider === suggested;
      button.classList.toggle('primary', leads);
      button.classList.toggle('secondary', !leads);
      if (leads) button.setAttribute('aria-describedby', 'register-oauth-note');
      else button.removeAttribute('aria-describedby');
    }
    const foldPassword = suggested !== undefined && !this.passwordChosen;
    this.passwordField.hidden = foldPassword;
    this.actions.hidden = foldPassword;
    this.usePasswordLine.hidden = !foldPassword;
    if (!this.suggested) return say(this.oauthNote, undefined);
    const name = providerName(this.providers, suggested);
    say(this.oauthNote, suggested === 'microsoft'
      ? t('register.oauthOnly', { name })
      : t('register.oauthSuggested', { name, domain: this.suggested.domain }));
  }

  /** Asks the gateway for the address's server and fills the fields the person has not touched. */
  private async discover(): Promise<void> {
    const email = this.email.value.trim();
    const domain = /^[^@\s]+@([^@\s]+\.[^@\s]+)$/.exec(email)?.[1]?.toLowerCase();
    if (!domain || domain === this.askedDomain) return;
    this.askedDomain = domain;
    this.offerSignIn(undefined, domain);
    const question = ++this.asked;
    let result: DiscoveryResult;
    try {
      result = await this.options.api.discover(email);
    } catch (error) {
      if (question !== this.asked) return;
      // Nothing found: say so, and open the fields to fill in. Anything else (a rate limit, no
      // network) is no reason to bother the person: the fields work as before.
      const notFound = error instanceof ApiFailure && error.code === 'discovery_failed';
      say(this.discovered, notFound && !this.serverEdited ? t('register.discoveryFailed', { domain }) : undefined);
      if (notFound && !this.serverEdited) this.server.open = true;
      this.askedDomain = notFound ? domain : '';
      return;
    }
    if (question !== this.asked) return;
    if (this.serverEdited) {
      // The person's own settings stay; the suggestion is only shown.
      say(this.discovered, t('register.discoveredKept', { domain, host: result.imap.host, port: String(result.imap.port) }));
      return;
    }
    this.host.value = result.imap.host;
    this.port.value = String(result.imap.port);
    this.security.value = result.imap.security;
    say(this.discovered, t(`register.discovered.${result.source}`, { domain }));
    this.offerSignIn(result.oauth?.provider, domain);
  }

  /** Leads with `providerId`'s button for an address at `domain` (GET /v1/discover's `oauth`), or with the password form. */
  private offerSignIn(providerId: string | undefined, domain: string): void {
    const provider = this.providers.find((p) => p.id === providerId);
    this.suggested = provider ? { provider, domain } : undefined;
    this.passwordChosen = false;
    this.renderSuggestion();
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
    this.renderProviders();
  }

  /** The next mailbox starts with the gateway's defaults and is looked up afresh. */
  private resetDiscovery(): void {
    this.serverEdited = false;
    this.askedDomain = '';
    this.asked++;
    say(this.discovered, undefined);
    this.suggested = undefined;
    this.passwordChosen = false;
    this.renderSuggestion();
    if (this.defaults) {
      this.host.value = this.defaults.host ?? '';
      this.port.value = String(this.defaults.port);
      this.security.value = this.defaults.security;
    }
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
      this.resetDiscovery();
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
