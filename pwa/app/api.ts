// The gateway's REST API as the app uses it, and what each error code means to a person.

import type { AccountView, CreateAccountRequest, CreatedAccount, ImapSecurity, PatchAccountRequest, PreviewLevel, PublicConfig } from '../../src/protocol/accounts.js';
import type { ErrorBody, ErrorCode } from '../../src/protocol/errors.js';
import type { PushSubscriptionBody, PushSubscriptionView, SubscribeRequest } from '../../src/protocol/push.js';

// The wire types are the gateway's own (src/protocol, compiled into dist/pwa/js/src/protocol).
export type { AccountState, ImapSecurity, PublicConfig } from '../../src/protocol/accounts.js';
export type { AnyMailEvent as MailEvent } from '../../src/protocol/events.js';
export type { PushSubscriptionBody } from '../../src/protocol/push.js';
export type Account = AccountView;
export type Preview = PreviewLevel;

/** A gateway error code, or one of the app's own: no answer at all, or one without an error body. */
export type FailureCode = ErrorCode | 'network' | 'http_error';

/** An answer other than 2xx, or no answer at all (`code` 'network'). */
export class ApiFailure extends Error {
  constructor(readonly status: number, readonly code: FailureCode, message: string) {
    super(message);
    this.name = 'ApiFailure';
  }
}

const MESSAGES: Partial<Record<FailureCode, string>> = {
  imap_auth_failed: 'Your mail server did not accept this email address and password. Check them; if your provider uses app passwords, create one and use it here.',
  imap_host_not_allowed: 'This gateway is not allowed to connect to that mail server. Check the server name under “Server settings”, or ask the gateway’s operator.',
  imap_port_not_allowed: 'This gateway does not connect to mail servers on that port. Use 993 (TLS) or 143 (STARTTLS) under “Server settings”, or ask the gateway’s operator.',
  imap_insecure_not_allowed: 'This gateway only connects to mail servers over an encrypted connection. Choose TLS or STARTTLS under “Server settings”.',
  imap_unreachable: 'Could not reach the mail server. Check the server name and port under “Server settings”, or try again in a moment.',
  account_exists: 'This mailbox is already registered on this device.',
  rate_limited: 'Too many attempts in a short time. Wait a minute, then try again.',
  unauthorized: 'This device is no longer signed in. Add your mailbox again.',
  not_found: 'That item no longer exists. It may have been removed on another device.',
  push_not_configured: 'This gateway cannot send notifications (it has no push keys configured).',
  push_endpoint_not_allowed: 'The gateway does not accept this browser’s push service.',
  limit_reached: 'This gateway watches no more mailboxes for you. Remove one under “Accounts” to add another.',
  push_subscription_limit: 'Too many devices receive notifications already. Turn them off on a device you no longer use.',
  network: 'Cannot reach the gateway. Check your connection; the app keeps trying.',
};

/** A sentence a person can act on, for any failure. */
export function describeError(error: unknown): string {
  if (error instanceof ApiFailure) {
    const sentence = MESSAGES[error.code];
    if (sentence) return sentence;
    if (error.code === 'invalid_request') return `Please check the details you entered (${error.message}).`;
    if (error.status >= 500) return 'The gateway had a problem. Try again in a moment.';
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export class Api {
  constructor(private readonly token: () => string | undefined) {}

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    const token = this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
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
      const error = (parsed as Partial<ErrorBody> | undefined)?.error;
      throw new ApiFailure(response.status, error?.code ?? 'http_error', error?.message ?? `HTTP ${response.status}`);
    }
    return parsed as T;
  }

  config(): Promise<PublicConfig> {
    return this.request('GET', '/v1/config');
  }

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

  async removeAccount(accountId: string): Promise<void> {
    await this.request('DELETE', `/v1/accounts/${encodeURIComponent(accountId)}`);
  }

  async vapidPublicKey(): Promise<string> {
    return (await this.request<{ publicKey: string }>('GET', '/v1/push/vapid-public-key')).publicKey;
  }

  subscribe(subscription: PushSubscriptionBody, preview: Preview): Promise<PushSubscriptionView> {
    return this.request('POST', '/v1/push/subscriptions', { subscription, preview } satisfies SubscribeRequest);
  }

  async unsubscribe(subscriptionId: string): Promise<void> {
    await this.request('DELETE', `/v1/push/subscriptions/${encodeURIComponent(subscriptionId)}`);
  }
}
