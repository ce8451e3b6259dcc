// Schemas of sign-in, devices and pairing, checked against the protocol's types (src/protocol/devices.ts).

import { Type } from 'typebox';
import {
  PAIRING_CODE_LENGTH, type ClaimPairingRequest, type ClaimPairingResponse, type PairingView,
  type RenameDeviceRequest, type SignInRequest, type SignInResponse,
} from '../../protocol/devices.js';
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
