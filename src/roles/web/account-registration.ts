// Registering a mailbox: the gateway's defaults fill in what the caller left out, a mailbox is
// registered once gateway-wide (one account, one IMAP session), and it is stored only after a real login proved its credentials, with
// its password sealed first. A caller without an account yet becomes a user here, once the login
// worked. Any way in (POST /v1/accounts, POST /v1/sessions, the OAuth callback) goes through this.

import type { Config } from '../../config.js';
import type { AccountStore, ControlBus, DeviceRecord, DeviceStore, UserStore } from '../../core/ports.js';
import type { SecretBox } from '../../core/secret-box.js';
import { hashToken, newId, newToken } from '../../core/tokens.js';
import type { AccountRecord, ImapSettings } from '../../core/types.js';
import { ImapConnectError, verifyImapLogin, type ImapClientOptions, type ImapCredential } from '../../imap/client.js';
import { sealGrant, type OAuthGrant } from '../../oauth/grant.js';
import type { OAuthMechanism } from '../../protocol/discovery.js';
import { ApiError } from './errors.js';

/** A mailbox to register, as the caller gave it: anything optional has a gateway default. */
export interface RegistrationRequest {
  imap: { host?: string; port?: number; security?: ImapSettings['security']; user: string; pass: string };
  /** @default the IMAP user when it is an address, else "<user>@<host>" */
  email?: string;
  /** @default ["INBOX"] */
  mailboxes?: string[];
  /** Name of the device a new user's first token stands for. */
  deviceName?: string;
  /**
   * Signed in with a provider: the grant's access token is the login (imap.pass is unused), with
   * the provider's pinned SASL mechanism if it has one.
   */
  oauth?: { provider: string; grant: OAuthGrant; mechanism?: OAuthMechanism };
}

/** What proves the login: the password, or the OAuth access token. */
function credentialOf(request: RegistrationRequest): ImapCredential {
  if (!request.oauth) return request.imap.pass;
  return { accessToken: request.oauth.grant.accessToken, ...(request.oauth.mechanism ? { mechanism: request.oauth.mechanism } : {}) };
}

/** A signed-in device: its token (shown once), the device, and the mailbox's account. */
export interface SignIn {
  token: string;
  device: DeviceRecord;
  record: AccountRecord;
  /** True when this sign-in registered the mailbox (and its user). */
  created: boolean;
}

export interface Registration {
  record: AccountRecord;
  /** The bearer token of the user this registration created; absent for an existing user. */
  token?: string;
}

export interface AccountRegistrationDeps {
  config: Pick<Config, 'imap' | 'web'>;
  accounts: AccountStore;
  users: UserStore;
  devices: DeviceStore;
  control: ControlBus;
  secretBox: SecretBox;
  imap: ImapClientOptions;
  /** Counts each login check against the mailbox's budget (MAILBOX_LOGIN_LIMIT); throws 429 when spent. */
  loginBudget?: { spend(settings: ImapSettings): Promise<void> };
}

/**
 * Devices one user may have; one more is 403 limit_reached. Every sign-in costs an IMAP login and
 * is rate-limited, but nothing else would bound what a leaked password could make us store.
 */
export const MAX_DEVICES_PER_USER = 100;

export function tooManyDevices(): ApiError {
  return new ApiError(403, 'limit_reached', `this user has ${MAX_DEVICES_PER_USER} devices already; remove one to add another`);
}

/** One mailbox, however the user spelled its host or login. */
function identityOf(settings: ImapSettings): string {
  return `${settings.host.toLowerCase()}|${settings.port}|${settings.user.toLowerCase()}`;
}

export class AccountRegistration {
  constructor(private readonly deps: AccountRegistrationDeps) {}

  /**
   * Registers the mailbox for `userId`, or for a new user when there is none. Throws ApiError:
   * 400 invalid_request without a host (and no default), 409 account_exists, 403 limit_reached
   * when the user has MAX_ACCOUNTS_PER_USER already, and proveLogin's.
   */
  async register(request: RegistrationRequest, userId: string | undefined, loginProven = false): Promise<Registration> {
    const { config, accounts, users, control, secretBox } = this.deps;
    const settings = this.settingsOf(request);
    const identity = identityOf(settings);
    const holder = await accounts.findMailbox(identity);
    if (userId && holder?.userId === userId) throw this.exists();
    // Before the login: a user at the limit costs the IMAP server nothing.
    if (userId && (await accounts.listForUser(userId)).length >= config.web.maxAccountsPerUser) throw this.limitReached();
    if (!loginProven) await this.proveLogin(settings, credentialOf(request));
    // Another user's mailbox is refused only now, so nobody learns which mailboxes are registered
    // here without knowing their passwords.
    if (holder) throw this.exists();

    let token: string | undefined;
    if (!userId) {
      token = newToken();
      userId = await users.create(hashToken(token), request.deviceName);
    }
    const accountId = newId('acc');
    const now = new Date().toISOString();
    const record: AccountRecord = {
      userId,
      accountId,
      email: request.email ?? (request.imap.user.includes('@') ? request.imap.user : `${request.imap.user}@${settings.host}`),
      imap: settings,
      sealedPassword: request.oauth ? sealGrant(secretBox, request.oauth.grant, accountId) : secretBox.seal(request.imap.pass, accountId),
      ...(request.oauth ? { auth: 'oauth2' as const, provider: request.oauth.provider } : {}),
      mailboxes: request.mailboxes ?? ['INBOX'],
      disabled: false,
      state: 'connecting',
      createdAt: now,
      updatedAt: now,
    };
    if ((await accounts.create(record, identity)) === 'exists') {
      // Registered by someone else since the check above; the user made for it goes again.
      if (token) await users.delete(userId);
      throw this.exists();
    }
    // Registrations at once may all have passed the check above. Each looks again after its
    // create and, finding the user over the limit, takes its own account back: an account stays
    // only if it was within the limit with every account created before it, so the limit holds
    // (at the cost that racing registrations may all be refused; a retry succeeds).
    if ((await accounts.listForUser(userId)).length > config.web.maxAccountsPerUser) {
      await accounts.delete({ userId, accountId });
      // Never announced as created, but a worker's scan may have seen it meanwhile.
      await control.publish({ kind: 'deleted', userId, accountId });
      throw this.limitReached();
    }
    await control.publish({ kind: 'created', userId, accountId });
    return { record, ...(token ? { token } : {}) };
  }

  /**
   * Signs in with the mailbox: after the login proved the password, a new device token for the
   * user who owns the mailbox, or a new user with it when nobody does. The gateway keeps one
   * account (one IMAP session) per mailbox however many devices sign in.
   */
  async signIn(request: RegistrationRequest & { deviceName: string }): Promise<SignIn> {
    const { accounts, devices, control, secretBox } = this.deps;
    const settings = this.settingsOf(request);
    await this.proveLogin(settings, credentialOf(request));
    for (let attempt = 0; attempt < 3; attempt++) {
      const holder = await accounts.findMailbox(identityOf(settings));
      if (!holder) {
        try {
          const { record, token } = await this.registerProven(request, settings);
          const device = await devices.findByToken(hashToken(token));
          if (device) return { token, device, record, created: true };
        } catch (error) {
          // Someone registered the mailbox a moment ago: sign in to theirs instead.
          if (!(error instanceof ApiError && error.code === 'account_exists')) throw error;
        }
        continue;
      }
      let record = await accounts.get(holder);
      if (!record) continue; // deleted meanwhile: look again
      if (request.oauth && record.auth === 'oauth2') {
        record = await this.renewGrant(record, request.oauth.grant);
      } else if (!request.oauth && record.state === 'auth_failed') {
        // The password just worked, so it is the one to use: the account recovers at once.
        record = (await accounts.update(holder, { sealedPassword: secretBox.seal(request.imap.pass, holder.accountId) })) ?? record;
        await control.publish({ kind: 'updated', ...holder });
      }
      if ((await devices.list(holder.userId)).length >= MAX_DEVICES_PER_USER) throw tooManyDevices();
      const token = newToken();
      const device = await devices.add(holder.userId, hashToken(token), request.deviceName);
      if (device) return { token, device, record, created: false };
    }
    throw new ApiError(503, 'unavailable', 'the mailbox changed hands while signing in; try again');
  }

  /**
   * Adds a mailbox signed in with a provider to `userId` (POST /v1/oauth/:provider/start with a
   * token). The login is proven first, like any registration; a mailbox of this user already gets
   * the new grant, another user's is refused (409 account_exists, only after the login worked).
   */
  async addOAuthMailbox(request: RegistrationRequest & { oauth: NonNullable<RegistrationRequest['oauth']> }, userId: string): Promise<{ record: AccountRecord; created: boolean }> {
    const settings = this.settingsOf(request);
    await this.proveLogin(settings, credentialOf(request));
    // The user may have been deleted while the person was at the provider (up to 10 minutes):
    // nothing may be stored for a user that is gone.
    if (!(await this.deps.users.exists(userId))) throw userGone();
    const holder = await this.deps.accounts.findMailbox(identityOf(settings));
    if (holder && holder.userId !== userId) throw this.exists();
    const record = holder ? await this.deps.accounts.get(holder) : undefined;
    if (record?.auth === 'oauth2') return { record: await this.renewGrant(record, request.oauth.grant), created: false };
    if (record) throw this.exists(); // this user's own password login of the mailbox
    const { record: created } = await this.register({ ...request, imap: { ...request.imap, host: settings.host, port: settings.port, security: settings.security } }, userId, true);
    if (!(await this.deps.users.exists(userId))) {
      // Deleted between the check above and the create: the deletion missed this account.
      await this.deps.accounts.delete(created);
      await this.deps.control.publish({ kind: 'deleted', userId, accountId: created.accountId });
      throw userGone();
    }
    return { record: created, created: true };
  }

  /**
   * A new sign-in brings a new grant: the account logs in with it from now on, back from
   * reauth_required (or auth_failed) as it was, keeping its id and event log.
   */
  private async renewGrant(record: AccountRecord, grant: OAuthGrant): Promise<AccountRecord> {
    const { accounts, control, secretBox } = this.deps;
    const updated = (await accounts.update(record, { sealedPassword: sealGrant(secretBox, grant, record.accountId) })) ?? record;
    if (updated.state === 'reauth_required' || updated.state === 'auth_failed') {
      // Before the worker hears of it: it starts the account from the stored record, state included.
      await accounts.setState(record, { state: 'connecting', lastError: null });
      updated.state = 'connecting';
      delete updated.lastError;
    }
    await control.publish({ kind: 'updated', userId: record.userId, accountId: record.accountId });
    return updated;
  }

  /** register() for a new user, with the login already proven. */
  private registerProven(request: RegistrationRequest, settings: ImapSettings): Promise<Registration & { token: string }> {
    return this.register({ ...request, imap: { ...request.imap, host: settings.host, port: settings.port, security: settings.security } }, undefined, true) as Promise<Registration & { token: string }>;
  }

  private settingsOf(request: RegistrationRequest): ImapSettings {
    const { config } = this.deps;
    const host = request.imap.host ?? config.imap.defaultHost;
    if (!host) throw new ApiError(400, 'invalid_request', 'imap.host is required (this gateway has no default IMAP host)');
    const security = request.imap.security ?? config.imap.defaultSecurity;
    return {
      host: host.trim(),
      port: request.imap.port ?? (request.imap.host ? undefined : config.imap.defaultPort) ?? (security === 'tls' ? 993 : 143),
      security,
      user: request.imap.user,
    };
  }

  private exists(): ApiError {
    return new ApiError(409, 'account_exists', 'this mailbox is already registered');
  }

  private limitReached(): ApiError {
    return new ApiError(403, 'limit_reached', `this user has ${this.deps.config.web.maxAccountsPerUser} accounts already (MAX_ACCOUNTS_PER_USER); delete one to add another`);
  }

  /**
   * Logs in to the mailbox and out again, within IMAP_CONNECT_TIMEOUT_SECONDS. Throws ApiError: 429
   * rate_limited when the mailbox's login budget is spent (before connecting), 422 imap_auth_failed,
   * 403 imap_host_not_allowed, imap_port_not_allowed or imap_insecure_not_allowed, 502 imap_unreachable.
   */
  async proveLogin(settings: ImapSettings, password: ImapCredential): Promise<void> {
    await this.deps.loginBudget?.spend(settings);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ImapConnectError('unreachable', 'timed out')), this.deps.config.imap.connectTimeoutMs);
    });
    try {
      await Promise.race([verifyImapLogin(settings, password, this.deps.imap), timeout]);
    } catch (error) {
      throw imapApiError(error, settings, password);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The user a request was made for no longer exists (its devices were signed out with it). */
function userGone(): ApiError {
  return new ApiError(401, 'unauthorized', 'this user was deleted while signing in with the provider; sign in again');
}

/** A failed IMAP login as the API answers it (anything but an ImapConnectError is returned as is). */
export function imapApiError(error: unknown, settings: ImapSettings, password: ImapCredential): unknown {
  if (!(error instanceof ImapConnectError)) return error;
  switch (error.kind) {
    case 'auth_failed':
      return new ApiError(422, 'imap_auth_failed', typeof password === 'string' ? 'the IMAP server rejected the user name or password' : 'the IMAP server rejected the access token');
    case 'host_not_allowed':
      return new ApiError(403, 'imap_host_not_allowed', `connecting to ${settings.host} is not allowed: ${error.message}`);
    case 'port_not_allowed':
      return new ApiError(403, 'imap_port_not_allowed', error.message);
    case 'insecure_not_allowed':
      return new ApiError(403, 'imap_insecure_not_allowed', error.message);
    case 'mechanism_not_offered':
      // The server refuses this way of signing in: a refused login, not a server that is down.
      return new ApiError(422, 'imap_auth_failed', error.message);
    default:
      return new ApiError(502, 'imap_unreachable', `cannot reach ${settings.host}:${settings.port}: ${error.message}`);
  }
}
