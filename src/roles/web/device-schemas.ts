// Schemas of sign-in, devices and pairing, checked against the protocol's types (src/protocol/devices.ts).

import { Type } from 'typebox';
import {
  PAIRING_CODE_LENGTH, type ClaimPairingRequest, type ClaimPairingResponse, type PairingView,
  type RenameDeviceRequest, type SignInRequest, type SignInResponse,
} from '../../protocol/devices.js';
import {
  LOCAL_TIME_PATTERN_SOURCE, QUIET_HOURS_MAX_VIPS, QUIET_HOURS_VIP_MAX_LENGTH, type QuietHours as QuietHoursShape, type QuietHoursEnvelope,
} from '../../protocol/quiet-hours.js';
import { Account, Device, DeviceName, Security, schemaOf } from './schemas.js';

export const SignInBody = schemaOf<SignInRequest>()(Type.Object({
  imap: Type.Object({
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    security: Type.Optional(Security),
    user: Type.String({ minLength: 1, maxLength: 320 }),
    pass: Type.String({ minLength: 1, maxLength: 1024 }),
  }, { additionalProperties: false }),
  deviceName: Type.Optional(DeviceName),
}, { additionalProperties: false }));

export const SignInAnswer = schemaOf<SignInResponse>()(Type.Object({
  token: Type.String(),
  device: Device,
  account: Account,
  created: Type.Boolean(),
}));

export const DeviceParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
export const DeviceList = Type.Object({ devices: Type.Array(Device) });
export const DeviceEnvelope = Type.Object({ device: Device });
export const RenameDeviceBody = schemaOf<RenameDeviceRequest>()(Type.Object({ name: DeviceName }, { additionalProperties: false }));

export const Pairing = schemaOf<PairingView>()(Type.Object({ code: Type.String(), expiresAt: Type.String(), url: Type.String() }));

export const ClaimPairingBody = schemaOf<ClaimPairingRequest>()(Type.Object({
  // Generous: a person may type it with spaces or dashes between the groups.
  code: Type.String({ minLength: 1, maxLength: PAIRING_CODE_LENGTH * 3 }),
  deviceName: Type.Optional(DeviceName),
}, { additionalProperties: false }));

export const ClaimPairingAnswer = schemaOf<ClaimPairingResponse>()(Type.Object({ token: Type.String(), device: Device }));

const LocalTime = Type.String({ pattern: LOCAL_TIME_PATTERN_SOURCE, description: 'local "HH:MM", 24-hour clock' });

/** The time zone is checked with Intl by the route (a pattern cannot know the IANA names). */
export const QuietHours = schemaOf<QuietHoursShape>()(Type.Object({
  enabled: Type.Boolean(),
  start: LocalTime,
  end: LocalTime,
  timeZone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Asia/Tokyo' }),
  vips: Type.Array(Type.String({ minLength: 3, maxLength: QUIET_HOURS_VIP_MAX_LENGTH, format: 'email' }), { maxItems: QUIET_HOURS_MAX_VIPS }),
  pausedUntil: Type.Union([Type.String({ format: 'date-time', maxLength: 40 }), Type.Null()]),
}, { additionalProperties: false }));

export const QuietHoursAnswer = schemaOf<QuietHoursEnvelope>()(Type.Object({ quietHours: QuietHours }));
