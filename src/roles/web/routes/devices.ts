// The caller's devices (one per bearer token): list, rename, remove; and DELETE /v1/users/me,
// which erases the user with everything it owns; each device's quiet hours. `current` stands for
// the calling device.

import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { DeviceStore } from '../../../core/ports.js';
import type { Authenticator } from '../auth.js';
import { toDeviceView, type DeviceAccess } from '../device-access.js';
import { DeviceEnvelope, DeviceList, DeviceParams, QuietHours, QuietHoursAnswer, RenameDeviceBody } from '../device-schemas.js';
import { normalizeQuietHours } from '../quiet-hours-input.js';
import { DEFAULT_QUIET_HOURS } from '../../../protocol/quiet-hours.js';
import { notFound, unauthorized } from '../errors.js';
import { errorResponses } from '../schemas.js';

export interface DeviceRoutesDeps {
  devices: DeviceStore;
  access: DeviceAccess;
  auth: Authenticator;
}

export function deviceRoutes({ devices, access, auth }: DeviceRoutesDeps) {
  return async function register(appBase: FastifyInstance): Promise<void> {
    const app = appBase.withTypeProvider<TypeBoxTypeProvider>();
    const target = (id: string, current: string) => (id === 'current' ? current : id);

    app.get('/v1/devices', {
      schema: { response: { 200: DeviceList, ...errorResponses } },
    }, async (request) => {
      const { userId, deviceId } = await auth.requireDevice(request);
      return { devices: (await devices.list(userId)).map((d) => toDeviceView(d, deviceId)) };
    });

    app.patch('/v1/devices/:id', {
      schema: { params: DeviceParams, body: RenameDeviceBody, response: { 200: DeviceEnvelope, ...errorResponses } },
    }, async (request) => {
      const { userId, deviceId } = await auth.requireDevice(request);
      const renamed = await devices.rename(userId, target(request.params.id, deviceId), request.body.name.trim());
      if (!renamed) throw notFound('device');
      return { device: toDeviceView(renamed, deviceId) };
    });

    app.delete('/v1/devices/:id', {
      schema: { params: DeviceParams, response: { 204: Type.Null(), ...errorResponses } },
    }, async (request, reply) => {
      const { userId, deviceId } = await auth.requireDevice(request);
      const id = target(request.params.id, deviceId);
      if (!(await access.revoke(userId, id))) {
        // Removed by another request meanwhile: for the device itself that is 401, like any request after it.
        if (id === deviceId) throw unauthorized('the bearer token is not valid');
        throw notFound('device');
      }
      return reply.code(204).send(null);
    });

    app.get('/v1/devices/:id/quiet-hours', {
      schema: { params: DeviceParams, response: { 200: QuietHoursAnswer, ...errorResponses } },
    }, async (request) => {
      const { userId, deviceId } = await auth.requireDevice(request);
      const id = target(request.params.id, deviceId);
      const [list, quietHours] = await Promise.all([devices.list(userId), devices.quietHours(userId)]);
      if (!list.some((device) => device.id === id)) throw notFound('device');
      return { quietHours: quietHours.get(id) ?? DEFAULT_QUIET_HOURS };
    });

    app.put('/v1/devices/:id/quiet-hours', {
      schema: { params: DeviceParams, body: QuietHours, response: { 200: QuietHoursAnswer, ...errorResponses } },
    }, async (request) => {
      const { userId, deviceId } = await auth.requireDevice(request);
      const quietHours = normalizeQuietHours(request.body, Date.now());
      if (!(await devices.setQuietHours(userId, target(request.params.id, deviceId), quietHours))) throw notFound('device');
      return { quietHours };
    });

    app.delete('/v1/users/me', {
      schema: { response: { 204: Type.Null(), ...errorResponses } },
    }, async (request, reply) => {
      const { userId } = await auth.requireDevice(request);
      if (!(await access.eraseUser(userId))) throw unauthorized('the bearer token is not valid');
      return reply.code(204).send(null);
    });
  };
}
