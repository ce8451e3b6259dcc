import type { FastifyRequest } from 'fastify';
import type { DeviceStore } from '../../core/ports.js';
import { hashToken, safeEqual } from '../../core/tokens.js';
import { unauthorized } from './errors.js';

export type Principal = { kind: 'user'; userId: string; deviceId: string } | { kind: 'admin' };

/** A device's lastSeenAt moves at most this often: a write per minute, not one per request. */
const LAST_SEEN_RESOLUTION_MS = 60_000;

/** The token of an `Authorization: Bearer …` header; undefined when there is none. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S{1,512})\s*$/i.exec(header);
  return match?.[1] ?? '';
}

export class Authenticator {
  constructor(
    private readonly devices: DeviceStore,
    private readonly adminToken: string | undefined,
    /** The clock lastSeenAt is read from; tests pass their own. */
    private readonly now: () => number = Date.now,
  ) {}

  async principal(token: string): Promise<Principal | undefined> {
    if (this.adminToken && safeEqual(token, this.adminToken)) return { kind: 'admin' };
    const device = await this.devices.findByToken(hashToken(token));
    if (!device) return undefined;
    const now = this.now();
    if (now - Date.parse(device.lastSeenAt) >= LAST_SEEN_RESOLUTION_MS) {
      // Not awaited: the request does not wait for bookkeeping, and a failed write only means
      // "last seen" is a minute older than it could be.
      void this.devices.touch(device.userId, device.id, new Date(now).toISOString()).catch(() => undefined);
    }
    return { kind: 'user', userId: device.userId, deviceId: device.id };
  }

  /** The caller's user id; 401 without a valid user token. */
  async requireUser(request: FastifyRequest): Promise<string> {
    return (await this.requireDevice(request)).userId;
  }

  /** The caller's user and device; 401 without a valid user token. */
  async requireDevice(request: FastifyRequest): Promise<{ userId: string; deviceId: string }> {
    const principal = await this.optional(request);
    if (principal?.kind !== 'user') throw unauthorized();
    return { userId: principal.userId, deviceId: principal.deviceId };
  }

  async requireAdmin(request: FastifyRequest): Promise<void> {
    const principal = await this.optional(request);
    if (principal?.kind !== 'admin') throw unauthorized('the admin token is required');
  }

  /** undefined without an Authorization header; 401 for a header with a token we do not know. */
  async optional(request: FastifyRequest): Promise<Principal | undefined> {
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) return undefined;
    const principal = token ? await this.principal(token) : undefined;
    if (!principal) throw unauthorized('the bearer token is not valid');
    return principal;
  }
}
