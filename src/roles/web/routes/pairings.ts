// Pairing a device by code: a signed-in device asks for a short single-use code (shown as text
// and as a QR code of `url`), the new device claims it without a token and gets one of its own.
// Codes are stored as hashes only, and claims are rate-limited per client, so 49 bits are plenty
// for a code that lives minutes.

import { createHash, randomInt } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../../../config.js';
import type { AttemptCounter, DeviceStore, PairingStore } from '../../../core/ports.js';
import { hashToken, newToken } from '../../../core/tokens.js';
import { PAIRING_CODE_ALPHABET, PAIRING_CODE_LENGTH } from '../../../protocol/devices.js';
import type { Authenticator } from '../auth.js';
import { MAX_DEVICES_PER_USER, tooManyDevices } from '../account-registration.js';
import { deviceName, toDeviceView } from '../device-access.js';
import { ClaimPairingAnswer, ClaimPairingBody, Pairing } from '../device-schemas.js';
import { clientAddressKey } from '../stream-admission.js';
import { ApiError } from '../errors.js';
import { errorResponses } from '../schemas.js';

/** Codes per client and minute. */
export const PAIRINGS_PER_MINUTE = 10;

/** Wrong claims per client and minute; any claim after the fifth wrong one is 429 until the minute is over. */
export const WRONG_CLAIMS_PER_MINUTE = 5;
/** Claims of any outcome per client and minute: bounds a burst of wrong ones sent at once. */
const CLAIMS_PER_MINUTE = 30;

export function newPairingCode(): string {
  let code = '';
  for (let i = 0; i < PAIRING_CODE_LENGTH; i++) code += PAIRING_CODE_ALPHABET[randomInt(PAIRING_CODE_ALPHABET.length)];
  return code;
}

/** As a person may type it: any case, with spaces or dashes between groups. */
export function normalizePairingCode(input: string): string {
  return input.toUpperCase().replace(/[\s-]/g, '');
}

const codeHash = (code: string) => createHash('sha256').update(`pairing:${code}`).digest('hex');

export interface PairingRoutesDeps {
  config: Config;
  pairings: PairingStore;
  devices: DeviceStore;
  attempts: AttemptCounter;
  auth: Authenticator;
}

/** PUBLIC_URL, else the origin this request reached (Host header and protocol as Fastify sees them). */
function publicOrigin(config: Config, request: FastifyRequest): string {
  return config.web.publicUrl ?? `${request.protocol}://${request.host}`;
}

export function pairingRoutes({ config, pairings, devices, attempts, auth }: PairingRoutesDeps) {
  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();

    app.post('/v1/pairings', {
      schema: { response: { 201: Pairing, ...errorResponses } },
      // Each code is held until it expires: a device cannot make us hold more than a few.
      config: { rateLimit: { max: PAIRINGS_PER_MINUTE, timeWindow: 60_000 } },
    }, async (request, reply) => {
      const { userId } = await auth.requireDevice(request);
      const code = newPairingCode();
      const expiresAtMs = Date.now() + config.web.pairingTtlMs;
      await pairings.create(userId, codeHash(code), expiresAtMs);
      reply.code(201);
      return { code, expiresAt: new Date(expiresAtMs).toISOString(), url: `${publicOrigin(config, request)}/#/pair?code=${code}` };
    });

    app.post('/v1/pairings/claim', {
      schema: { body: ClaimPairingBody, response: { 201: ClaimPairingAnswer, ...errorResponses } },
      config: { rateLimit: { max: CLAIMS_PER_MINUTE, timeWindow: 60_000 } },
    }, async (request, reply) => {
      // Counted like every per-address limit: an IPv6 client per /64, so it cannot rotate addresses.
      const client = clientAddressKey(request.ip);
      if ((await attempts.count('pairing', client)) >= WRONG_CLAIMS_PER_MINUTE) {
        throw new ApiError(429, 'rate_limited', 'too many wrong pairing codes; try again in a minute', 60);
      }
      const invalid = async () => {
        await attempts.record('pairing', client, 60_000);
        return new ApiError(400, 'pairing_code_invalid', 'this pairing code is wrong, expired or used already; ask for a new one');
      };
      const code = normalizePairingCode(request.body.code);
      if (code.length !== PAIRING_CODE_LENGTH) throw await invalid();
      const userId = await pairings.claim(codeHash(code), Date.now());
      if (!userId) throw await invalid();
      if ((await devices.list(userId)).length >= MAX_DEVICES_PER_USER) throw tooManyDevices();
      const token = newToken();
      const device = await devices.add(userId, hashToken(token), deviceName(request.body.deviceName, request.headers['user-agent']));
      if (!device) throw await invalid(); // the user was deleted after making the code
      reply.code(201);
      return { token, device: toDeviceView(device, device.id) };
    });
  };
}
