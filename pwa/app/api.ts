// The gateway's REST API as the app uses it, and what each error code means to a person.

import type { AccountFolders, AccountView, CreateAccountRequest, CreatedAccount, ImapSecurity, PatchAccountRequest, PreviewLevel, PublicConfig } from '../../src/protocol/accounts.js';
import type { DiscoveryResult } from '../../src/protocol/discovery.js';
import type { ErrorBody, ErrorCode } from '../../src/protocol/errors.js';
import type { ClaimPairingRequest, ClaimPairingResponse, DeviceView, PairingView, RenameDeviceRequest, SignInRequest, SignInResponse } from '../../src/protocol/devices.js';
import type { OAuthHandoffRequest, OAuthStartRequest, OAuthStartResponse } from '../../src/protocol/oauth.js';
import type { PushSubscriptionBody, PushSubscriptionView, SubscribeRequest } from '../../src/protocol/push.js';
import type { QuietHours, QuietHoursEnvelope } from '../../src/protocol/quiet-hours.js';
import type { MessageAction, MessageActionRequest, MessageActionResult, MessageView } from '../../src/protocol/messages.js';
import { t } from './i18n.js';

// The wire types are the gateway's own (src/protocol, compiled into dist/pwa/js/src/protocol).
export type { AccountFolders, AccountState, ImapSecurity, MailboxFolder, PublicConfig } from '../../src/protocol/accounts.js';
export type { DiscoveryResult, DiscoverySource } from '../../src/protocol/discovery.js';
export type { AnyMailEvent as MailEvent } from '../../src/protocol/events.js';
export type { PushSubscriptionBody, PushSubscriptionView } from '../../src/protocol/push.js';
export type { DeviceView, PairingView, SignInResponse } from '../../src/protocol/devices.js';
export type { QuietHours } from '../../src/protocol/quiet-hours.js';
export type { OAuthProviderView } from '../../src/protocol/oauth.js';
export type { MessageAction, MessageView } from '../../src/protocol/messages.js';
export type Account = AccountView;
export type Preview = PreviewLevel;

/** A gateway error code, or one of the app's own: no answer at all, or one without an error body. */
export type FailureCode = ErrorCode | 'network' | 'http_error';

/** An answer other than 2xx, or no answer at all (`code` 'network'). */
export class ApiFailure extends Error {
  /** `retryAfterSeconds`: the answer's Retry-After (a rate limit says when it lets go). */
  constructor(readonly status: number, readonly code: FailureCode, message: string, readonly retryAfterSeconds?: number) {
    super(message);
    this.name = 'ApiFailure';
  }
}

/** The codes with a sentence of their own in the catalog (error.<code>). */
const EXPLAINED = [
  'imap_auth_failed', 'imap_host_not_allowed', 'imap_port_not_allowed', 'imap_insecure_not_allowed', 'imap_unreachable',
  'account_exists', 'rate_limited', 'unauthorized', 'not_found', 'push_not_configured', 'push_endpoint_not_allowed',
  'limit_reached', 'push_subscription_limit', 'network', 'pairing_code_invalid', 'invalid_quiet_hours', 'mailbox_changed', 'mailbox_unavailable', 'account_disabled',
] as const satisfies readonly FailureCode[];
type ExplainedCode = (typeof EXPLAINED)[number];
export const isExplained = (code: FailureCode): code is ExplainedCode => (EXPLAINED as readonly FailureCode[]).includes(code);

/** A sentence a person can act on, in the app's language, for any failure. */
export function describeError(error: unknown): string {
  if (error instanceof ApiFailure) {
    // Most limits let go within a minute; the per-mailbox login budget can take a quarter of an
    // hour, and "wait a minute" would send the person into another refusal.
    const waitSeconds = error.retryAfterSeconds ?? 0;
    if (error.code === 'rate_limited' && waitSeconds > 90) {
      return t('error.rate_limited_minutes', { count: Math.ceil(waitSeconds / 60) });
    }
    if (isExplained(error.code)) return t(`error.${error.code}`);
    if (error.code === 'invalid_request') return t('error.invalid_request', { detail: error.message });
    if (error.status >= 500) return t('error.server');
    return t('error.unexpected', { detail: error.message });
  }
  // The app's own errors (notifications.ts) are already sentences from the catalog.
  return error instanceof Error ? error.message : t('error.unexpected', { detail: String(error) });
}

export class Api {
  /**
   * `onUnauthorized`: a request made with a token was answered 401 — this device was removed or
   * the user deleted elsewhere, and the app signs out.
   */
  constructor(private readonly token: () => string | undefined, private readonly onUnauthorized: () => void = () => undefined) {}

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    const token = this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      // same-origin credentials: a cookie the gateway sets (the OAuth start binds the sign-in to
      // this browser with one) comes back on later requests; nothing goes to other origins.
      response = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch {
      throw new ApiFailure(0, 'network', 'network error');
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      if (response.status === 401 && token) this.onUnauthorized();
      const error = (parsed as Partial<ErrorBody> | undefined)?.error;
      const retryAfter = Number(response.headers.get('retry-after') ?? NaN);
      throw new ApiFailure(response.status, error?.code ?? 'http_error', error?.message ?? `HTTP ${response.status}`,
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
    }
    return parsed as T;
  }

  config(): Promise<PublicConfig> {
    return this.request('GET', '/v1/config');
  }

  /** The IMAP server (and OAuth provider) the gateway suggests for an address. */
  discover(email: string): Promise<DiscoveryResult> {
    return this.request('GET', `/v1/discover?email=${encodeURIComponent(email)}`);
  }

  /** POST /v1/sessions: signs in with the mailbox, registering it if the gateway does not know it yet. */
  signIn(body: { email: string; password: string; host: string; port: number; security: ImapSecurity }): Promise<SignInResponse> {
    return this.request('POST', '/v1/sessions', {
      imap: { user: body.email, pass: body.password, host: body.host, port: body.port, security: body.security },
    } satisfies SignInRequest);
  }

  /**
   * POST /v1/oauth/:provider/start: where to send the browser to sign in at the provider. Sent with
   * this device's token when it has one, so the mailbox is added to its user.
   */
  oauthStart(providerId: string, body: OAuthStartRequest): Promise<OAuthStartResponse> {
    return this.request('POST', `/v1/oauth/${encodeURIComponent(providerId)}/start`, body);
  }

  /** POST /v1/oauth/handoff: the single-use code the provider's sign-in came back with, for a device token. */
  oauthHandoff(handoff: string): Promise<SignInResponse> {
    return this.request('POST', '/v1/oauth/handoff', { handoff } satisfies OAuthHandoffRequest);
  }

  claimPairing(code: string): Promise<ClaimPairingResponse> {
    return this.request('POST', '/v1/pairings/claim', { code } satisfies ClaimPairingRequest);
  }

  createPairing(): Promise<PairingView> {
    return this.request('POST', '/v1/pairings');
  }

  async devices(): Promise<DeviceView[]> {
    return (await this.request<{ devices: DeviceView[] }>('GET', '/v1/devices')).devices;
  }

  async renameDevice(deviceId: string, name: string): Promise<DeviceView> {
    return (await this.request<{ device: DeviceView }>('PATCH', `/v1/devices/${encodeURIComponent(deviceId)}`, { name } satisfies RenameDeviceRequest)).device;
  }

  /** `current` signs this device out. */
  async removeDevice(deviceId: string): Promise<void> {
    await this.request('DELETE', `/v1/devices/${encodeURIComponent(deviceId)}`);
  }

  /** This device's quiet hours (the gateway's defaults when it never set any). */
  async quietHours(): Promise<QuietHours> {
    return (await this.request<QuietHoursEnvelope>('GET', '/v1/devices/current/quiet-hours')).quietHours;
  }

  /** Replaces this device's quiet hours; answers them as the gateway stored them. */
  async setQuietHours(quietHours: QuietHours): Promise<QuietHours> {
    return (await this.request<QuietHoursEnvelope>('PUT', '/v1/devices/current/quiet-hours', quietHours)).quietHours;
  }

  async deleteMyData(): Promise<void> {
    await this.request('DELETE', '/v1/users/me');
  }

  async setAccountDisabled(accountId: string, disabled: boolean): Promise<Account> {
    return (await this.request<{ account: Account }>('PATCH', `/v1/accounts/${encodeURIComponent(accountId)}`, { disabled } satisfies PatchAccountRequest)).account;
  }

  async subscriptions(): Promise<PushSubscriptionView[]> {
    return (await this.request<{ subscriptions: PushSubscriptionView[] }>('GET', '/v1/push/subscriptions')).subscriptions;
  }

  /** With a token: adds a mailbox to this user (POST /v1/accounts). */
  register(body: { email: string; password: string; host: string; port: number; security: ImapSecurity }): Promise<CreatedAccount> {
    return this.request('POST', '/v1/accounts', {
      // The gateway checks `email` as an address; a bare login name is sent as the IMAP user only.
      ...(body.email.includes('@') ? { email: body.email } : {}),
      imap: { user: body.email, pass: body.password, host: body.host, port: body.port, security: body.security },
    } satisfies CreateAccountRequest);
  }

  async accounts(): Promise<Account[]> {
    return (await this.request<{ accounts: Account[] }>('GET', '/v1/accounts')).accounts;
  }

  async changePassword(accountId: string, password: string): Promise<Account> {
    return (await this.request<{ account: Account }>('PATCH', `/v1/accounts/${encodeURIComponent(accountId)}`, { imap: { pass: password } } satisfies PatchAccountRequest)).account;
  }

  /** The mailbox's folders, asked of its IMAP server now, and how many may be watched there. */
  folders(accountId: string): Promise<AccountFolders> {
    return this.request('GET', `/v1/accounts/${encodeURIComponent(accountId)}/folders`);
  }

  /** The webmail link template (`{uid}`, `{mailbox}`); null removes it. */
  async setWebmailUrl(accountId: string, webmailUrl: string | null): Promise<Account> {
    return (await this.request<{ account: Account }>('PATCH', `/v1/accounts/${encodeURIComponent(accountId)}`, { webmailUrl } satisfies PatchAccountRequest)).account;
  }

  async setMailboxes(accountId: string, mailboxes: string[]): Promise<Account> {
    return (await this.request<{ account: Account }>('PATCH', `/v1/accounts/${encodeURIComponent(accountId)}`, { mailboxes } satisfies PatchAccountRequest)).account;
  }

  async removeAccount(accountId: string): Promise<void> {
    await this.request('DELETE', `/v1/accounts/${encodeURIComponent(accountId)}`);
  }

  async vapidPublicKey(): Promise<string> {
    return (await this.request<{ publicKey: string }>('GET', '/v1/push/vapid-public-key')).publicKey;
  }

  /** Posting the same endpoint again updates it; `accounts` empty or left out means all of them. */
  subscribe(subscription: PushSubscriptionBody, preview: Preview, accounts?: string[]): Promise<PushSubscriptionView> {
    return this.request('POST', '/v1/push/subscriptions', { subscription, preview, ...(accounts ? { accounts } : {}) } satisfies SubscribeRequest);
  }

  /** One message's headers and text, read from the mailbox now (GET /v1/accounts/:id/messages/:uid). */
  message(accountId: string, uid: number, mailbox: string, uidValidity: number): Promise<MessageView> {
    const query = new URLSearchParams({ uidValidity: String(uidValidity), mailbox });
    return this.request('GET', `/v1/accounts/${encodeURIComponent(accountId)}/messages/${uid}?${query.toString()}`);
  }

  messageAction(accountId: string, uid: number, mailbox: string, uidValidity: number, action: MessageAction): Promise<MessageActionResult> {
    return this.request('POST', `/v1/accounts/${encodeURIComponent(accountId)}/messages/${uid}/actions`, { action, uidValidity, mailbox } satisfies MessageActionRequest);
  }

  async unsubscribe(subscriptionId: string): Promise<void> {
    await this.request('DELETE', `/v1/push/subscriptions/${encodeURIComponent(subscriptionId)}`);
  }
}
