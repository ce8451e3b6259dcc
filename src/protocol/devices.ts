// Devices, sign-in and pairing as the API shows them, shared by the server and the web app.
// Every bearer token is a device: a person sees each of theirs by name, renames and removes them,
// and brings a new one in by signing in with the mailbox again or by a short pairing code.

import type { AccountView, ImapSecurity } from './accounts.js';

/** One signed-in device (one bearer token). The token itself is never shown again. */
export interface DeviceView {
  id: string;
  name: string;
  createdAt: string;
  /** When its token was last used; updated about once a minute at most, not on every request. */
  lastSeenAt: string;
  /** True for the device that made this request. */
  current: boolean;
}

/** Longest device name; longer names are refused (400), not cut. */
export const DEVICE_NAME_MAX_LENGTH = 64;

/** POST /v1/sessions: sign in with the mailbox (registering it when the gateway does not know it yet). */
export interface SignInRequest {
  imap: { host?: string; port?: number; security?: ImapSecurity; user: string; pass: string };
  /** @default a name built from the browser's User-Agent */
  deviceName?: string;
}

/**
 * The answer to POST /v1/sessions, and to POST /v1/accounts without a token: a new device token
 * for the mailbox's owner (`created: false`), or for a user created with the mailbox (`created: true`).
 */
export interface SignInResponse {
  token: string;
  device: DeviceView;
  account: AccountView;
  created: boolean;
}

/** PATCH /v1/devices/:id */
export interface RenameDeviceRequest {
  name: string;
}

/** POST /v1/pairings: a single-use code that signs one more device in to the caller's user. */
export interface PairingView {
  /** Characters from PAIRING_CODE_ALPHABET; a client may show it in groups, case and dashes are ignored. */
  code: string;
  expiresAt: string;
  /** Opening it on the new device claims the code: `<origin>/#/pair?code=<code>`. */
  url: string;
}

/** Crockford's base32 without 0, O, 1, I, L and U: nothing two characters can be mistaken for. */
export const PAIRING_CODE_ALPHABET = '23456789ABCDEFGHJKMNPQRSTVWXYZ';
/** 10 characters of 30: 49 bits. */
export const PAIRING_CODE_LENGTH = 10;

/** POST /v1/pairings/claim (without a token). */
export interface ClaimPairingRequest {
  code: string;
  deviceName?: string;
}

export interface ClaimPairingResponse {
  token: string;
  device: DeviceView;
}
