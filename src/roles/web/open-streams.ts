// Which device each open stream of this web process belongs to, so that removing a device (or
// its whole user) on any web process closes its streams here too, with 4401 like a bad token.

import type { WebSocket } from 'ws';
import type { DeviceRevocation, RevocationBus } from '../../core/ports.js';
import { CloseCode } from '../../protocol/stream.js';

export class OpenStreams {
  /** userId → deviceId → its sockets. */
  private readonly byUser = new Map<string, Map<string, Set<WebSocket>>>();

  constructor(revocations: RevocationBus) {
    void revocations.subscribe((revocation) => this.revoke(revocation)).catch(() => undefined);
  }

  add(owner: { userId: string; deviceId: string }, socket: WebSocket): void {
    const devices = this.byUser.get(owner.userId) ?? new Map<string, Set<WebSocket>>();
    this.byUser.set(owner.userId, devices);
    const sockets = devices.get(owner.deviceId) ?? new Set<WebSocket>();
    devices.set(owner.deviceId, sockets);
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) devices.delete(owner.deviceId);
      if (devices.size === 0) this.byUser.delete(owner.userId);
    });
  }

  private revoke({ userId, deviceId }: DeviceRevocation): void {
    const devices = this.byUser.get(userId);
    if (!devices) return;
    const groups = deviceId === undefined ? [...devices.values()] : [devices.get(deviceId) ?? new Set<WebSocket>()];
    for (const sockets of groups) {
      for (const socket of [...sockets]) socket.close(CloseCode.unauthorized, 'signed out: this device was removed');
    }
  }
}
