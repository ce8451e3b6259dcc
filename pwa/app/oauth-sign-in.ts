// Signing a mailbox in with its provider (Google, Microsoft 365, or one the operator configured).
// The app asks the gateway to start (POST /v1/oauth/:provider/start) and leaves for the provider's
// own sign-in pages; the gateway's callback sends the browser back to #/oauth/done?handoff=… or
// #/oauth/error?code=…. The handoff is a single-use code, traded here for the device token with
// POST /v1/oauth/handoff and wiped from the address bar and the history first, so neither the back
// button nor a shared screenshot carries it.

import { Api, ApiFailure, describeError, isExplained, type OAuthProviderView, type SignInResponse } from './api.js';
import { byId, el } from './dom.js';
import { t } from './i18n.js';
import { OAUTH_ADDED_ROUTE, OAUTH_DONE_ROUTE, OAUTH_ERROR_ROUTE } from '../../src/protocol/oauth.js';

/** Error codes with a sentence of their own on the error screen (oauth.error.<code>). */
const OAUTH_EXPLAINED = [
  'oauth_denied', 'oauth_state_invalid', 'oauth_handoff_invalid', 'oauth_exchange_failed', 'oauth_provider_unavailable', 'imap_auth_failed',
] as const;
type OAuthExplained = (typeof OAUTH_EXPLAINED)[number];

/** An address worth giving the provider as login_hint. */
const looksLikeAddress = (value: string) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value);

/**
 * Asks the gateway to start and goes to the provider's page. Returns only if the gateway refused
 * (the ApiFailure is thrown); otherwise the page is left.
 */
export async function goToProvider(api: Api, providerId: string, email?: string): Promise<void> {
  const address = email?.trim();
  const { authorizeUrl } = await api.oauthStart(providerId, address && looksLikeAddress(address) ? { email: address } : {});
  location.assign(authorizeUrl);
}

/**
 * One "Sign in with <name>" (or "Add a <name> mailbox") button per provider. A click starts that
 * provider's sign-in with the address `email()` gives; a refusal is shown through `onFailure`.
 */
export function providerButtons(options: {
  api: Api;
  providers: readonly OAuthProviderView[];
  label: 'register.oauthSignIn' | 'register.oauthAdd';
  email?: () => string;
  onFailure(message: string | undefined): void;
}): HTMLButtonElement[] {
  return options.providers.map((provider) => {
    const label = t(options.label, { name: provider.name });
    const button = el('button', { class: 'oauth-provider', text: label, attrs: { type: 'button', 'data-provider': provider.id } });
    button.classList.add('secondary'); // the register view makes a suggested provider's button primary
    button.addEventListener('click', () => {
      options.onFailure(undefined);
      button.disabled = true;
      button.textContent = t('register.oauthOpening', { name: provider.name });
      goToProvider(options.api, provider.id, options.email?.()).catch((error: unknown) => {
        options.onFailure(describeError(error));
        button.disabled = false;
        button.textContent = label;
      });
    });
    return button;
  });
}

/** A provider's name for an id (the id itself if the provider was turned off since). */
export function providerName(providers: readonly OAuthProviderView[], id: string | undefined): string {
  return providers.find((p) => p.id === id)?.name ?? id ?? '';
}

export interface OAuthReturnViewOptions {
  api: Api;
  /** The handoff gave a device token: `signedIn` tells whether this device had one already. */
  onSignedIn(answer: SignInResponse, signedIn: boolean): void;
  /** A signed-in device added a mailbox (or signed one in again): nothing to trade, the accounts show it. */
  onMailboxAdded(accountId: string): void;
}

/** The screen the provider's sign-in comes back to: "Finishing sign-in…", or why it failed. */
export class OAuthReturnView {
  private readonly title = byId('oauth-title');
  private readonly message = byId('oauth-message');
  private readonly back = byId<HTMLAnchorElement>('oauth-back');
  /** The error shown, kept for a redraw in another language. */
  private shownCode: string | undefined;
  private signedIn = false;
  private exchanging = false;

  constructor(private readonly options: OAuthReturnViewOptions) {}

  /** True for the hashes this view answers. */
  static handles(hash: string): boolean {
    const route = hash.replace(/^#/, '').split('?')[0];
    return route === OAUTH_DONE_ROUTE || route === OAUTH_ERROR_ROUTE || route === OAUTH_ADDED_ROUTE;
  }

  show(hash: string, signedIn: boolean): void {
    this.signedIn = signedIn;
    const [route, query] = hash.replace(/^#/, '').split('?');
    const params = new URLSearchParams(query ?? '');
    if (route === OAUTH_ERROR_ROUTE) return this.showError(params.get('code') ?? 'internal_error');
    if (route === OAUTH_ADDED_ROUTE) return this.options.onMailboxAdded(params.get('account') ?? '');
    const handoff = params.get('handoff');
    if (handoff) {
      // Out of the address bar and this history entry before anything else happens.
      history.replaceState(history.state, '', `#${OAUTH_DONE_ROUTE}`);
      void this.exchange(handoff);
    } else if (!this.exchanging) {
      // Back at a finished sign-in (the code was wiped from here when it was used).
      this.showError('oauth_handoff_invalid');
    }
  }

  /** Redraws in the current language. */
  render(): void {
    if (this.shownCode !== undefined) this.showError(this.shownCode);
    else this.title.textContent = t('oauth.finishingTitle');
    this.back.textContent = t(this.signedIn ? 'oauth.backToAccounts' : 'oauth.backToStart');
  }

  private async exchange(handoff: string): Promise<void> {
    this.exchanging = true;
    this.shownCode = undefined;
    this.message.hidden = true;
    this.back.hidden = true;
    this.render();
    try {
      const answer = await this.options.api.oauthHandoff(handoff);
      this.options.onSignedIn(answer, this.signedIn);
    } catch (error) {
      const code = error instanceof ApiFailure ? error.code : 'network';
      history.replaceState(history.state, '', `#${OAUTH_ERROR_ROUTE}?code=${encodeURIComponent(code)}`);
      this.showError(code, error);
    } finally {
      this.exchanging = false;
    }
  }

  private showError(code: string, error?: unknown): void {
    this.shownCode = code;
    this.title.textContent = t('oauth.errorTitle');
    this.message.textContent = describeOAuthError(code, error);
    this.message.hidden = false;
    this.back.href = this.signedIn ? '#/accounts' : '#/register';
    this.back.textContent = t(this.signedIn ? 'oauth.backToAccounts' : 'oauth.backToStart');
    this.back.hidden = false;
  }
}

/** The sentence for an error code from the callback's redirect (or the handoff's answer). */
function describeOAuthError(code: string, error?: unknown): string {
  if ((OAUTH_EXPLAINED as readonly string[]).includes(code)) return t(`oauth.error.${code as OAuthExplained}`);
  if (error !== undefined) return describeError(error);
  // The code came in the address: only a known one gets its sentence; anything else is named as is.
  const known = code as Parameters<typeof isExplained>[0];
  if (/^[a-z_]{1,40}$/.test(code) && isExplained(known)) return describeError(new ApiFailure(0, known, code));
  return t('oauth.error.other', { code: code.slice(0, 40) });
}
