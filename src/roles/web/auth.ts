import type { FastifyRequest } from 'fastify';
import type { UserStore } from '../../core/ports.js';
import { hashToken, safeEqual } from '../../core/tokens.js';
import { unauthorized } from './errors.js';

export type Principal = { kind: 'user'; userId: string } | { kind: 'admin' };

/** The token of an `Authorization: Bearer …` header; undefined when there is none. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S{1,512})\s*$/i.exec(header);
  return match?.[1] ?? '';
}

export class Authenticator {
  constructor(private readonly users: UserStore, private readonly adminToken: string | undefined) {}

  async principal(token: string): Promise<Principal | undefined> {
    if (this.adminToken && safeEqual(token, this.adminToken)) return { kind: 'admin' };
    const userId = await this.users.findByToken(hashToken(token));
    return userId ? { kind: 'user', userId } : undefined;
  }

  /** The caller's user id; 401 without a valid user token. */
  async requireUser(request: FastifyRequest): Promise<string> {
    const principal = await this.optional(request);
    if (principal?.kind !== 'user') throw unauthorized();
    return principal.userId;
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
