// What removing a device or a whole user means beyond the store: its push subscriptions go, its
// open streams close on every web process (the revocation bus), and the worker holding each of a
// deleted user's accounts logs out (the control bus).

import type { AccountStore, ControlBus, DeviceRecord, DeviceStore, PushSubscriptionStore, RevocationBus, UserStore } from '../../core/ports.js';
import { DEVICE_NAME_MAX_LENGTH, type DeviceView } from '../../protocol/devices.js';

export function toDeviceView(record: DeviceRecord, currentDeviceId: string | undefined): DeviceView {
  return { id: record.id, name: record.name, createdAt: record.createdAt, lastSeenAt: record.lastSeenAt, current: record.id === currentDeviceId };
}

const BROWSERS: Array<[RegExp, string]> = [[/Edg\//, 'Edge'], [/OPR\//, 'Opera'], [/Firefox\//, 'Firefox'], [/Chrom(e|ium)\//, 'Chrome'], [/Safari\//, 'Safari']];
const SYSTEMS: Array<[RegExp, string]> = [[/Android/, 'Android'], [/iPhone|iPad|iPod/, 'iOS'], [/Windows/, 'Windows'], [/Mac OS X|Macintosh/, 'macOS'], [/CrOS/, 'ChromeOS'], [/Linux/, 'Linux']];

/**
 * The name a device gets when its sign-in names none: "Firefox on Android" reads better in a
 * device list than "Device", and is all a User-Agent can honestly say.
 */
export function deviceName(given: string | undefined, userAgent: string | undefined): string {
  const trimmed = given?.trim();
  if (trimmed) return trimmed.slice(0, DEVICE_NAME_MAX_LENGTH);
  const ua = userAgent ?? '';
  const browser = BROWSERS.find(([pattern]) => pattern.test(ua))?.[1];
  const system = SYSTEMS.find(([pattern]) => pattern.test(ua))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return browser ?? system ?? 'Device';
}

export interface DeviceAccessDeps {
  users: UserStore;
  devices: DeviceStore;
  accounts: AccountStore;
  pushSubscriptions: PushSubscriptionStore;
  control: ControlBus;
  revocations: RevocationBus;
}

export class DeviceAccess {
  constructor(private readonly deps: DeviceAccessDeps) {}

  /** Signs the device out everywhere; false when the user has no such device. */
  async revoke(userId: string, deviceId: string): Promise<boolean> {
    const { devices, pushSubscriptions, revocations } = this.deps;
    if (!(await devices.delete(userId, deviceId))) return false;
    const owned = (await pushSubscriptions.list(userId)).filter((s) => s.deviceId === deviceId);
    await Promise.all(owned.map((s) => pushSubscriptions.delete(userId, s.id)));
    await revocations.publish({ userId, deviceId });
    return true;
  }

  /** Erases the user and everything it owns; false when it was gone already. */
  async eraseUser(userId: string): Promise<boolean> {
    const { users, accounts, control, revocations } = this.deps;
    const held = await accounts.listForUser(userId);
    if (!(await users.delete(userId))) return false;
    // The workers holding its accounts log out; the web processes close its streams.
    await Promise.all(held.map((account) => control.publish({ kind: 'deleted', userId, accountId: account.accountId })));
    await revocations.publish({ userId });
    return true;
  }
}
