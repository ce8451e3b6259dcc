// Devices without a network: the pairing code's alphabet and length, how a typed code is read,
// the default device name, and how often a device's lastSeenAt is written (over the SQLite store,
// with a clock the test moves).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Adapters } from '../../src/adapters/adapters.js';
import { createEmbeddedAdapters } from '../../src/adapters/embedded.js';
import { hashToken, newToken } from '../../src/core/tokens.js';
import { PAIRING_CODE_ALPHABET, PAIRING_CODE_LENGTH } from '../../src/protocol/devices.js';
import { Authenticator } from '../../src/roles/web/auth.js';
import { deviceName } from '../../src/roles/web/device-access.js';
import { newPairingCode, normalizePairingCode } from '../../src/roles/web/routes/pairings.js';

let dir: string;
let adapters: Adapters;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mailpush-devices-'));
  adapters = createEmbeddedAdapters({ dataDir: dir, events: { batchSize: 25, retentionCount: 100, retentionMs: 86400_000 } });
});

after(async () => {
  await adapters?.close();
  await rm(dir, { recursive: true, force: true });
});

test('pairing codes: at least 40 bits, from an alphabet without look-alikes, all of it used', () => {
  assert.ok(PAIRING_CODE_LENGTH * Math.log2(PAIRING_CODE_ALPHABET.length) >= 40);
  for (const confusable of '01OILU') assert.ok(!PAIRING_CODE_ALPHABET.includes(confusable), confusable);
  const seen = new Set<string>();
  const codes = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const code = newPairingCode();
    assert.equal(code.length, PAIRING_CODE_LENGTH);
    for (const c of code) seen.add(c);
    codes.add(code);
  }
  assert.equal(seen.size, PAIRING_CODE_ALPHABET.length, 'every character appears');
  assert.equal(codes.size, 2000, 'no repeats');
  assert.equal(normalizePairingCode(' abcde-fghjk '), 'ABCDEFGHJK');
  assert.equal(normalizePairingCode('ABCDE FGHJK'), 'ABCDEFGHJK');
});

test('a device without a name is named after its browser and system', () => {
  const android = 'Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0';
  const mac = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15';
  const windows = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0';
  assert.equal(deviceName(undefined, android), 'Firefox on Android');
  assert.equal(deviceName(undefined, mac), 'Safari on macOS');
  assert.equal(deviceName(undefined, windows), 'Edge on Windows');
  assert.equal(deviceName(undefined, 'curl/8.5.0'), 'Device');
  assert.equal(deviceName(undefined, undefined), 'Device');
  assert.equal(deviceName('  Kitchen tablet ', android), 'Kitchen tablet');
});

test('lastSeenAt moves at most once a minute, not on every request', async () => {
  const token = newToken();
  const userId = await adapters.users.create(hashToken(token), 'Laptop');
  const created = (await adapters.devices.findByToken(hashToken(token)))!;
  const start = Date.parse(created.lastSeenAt);
  let clock = start;
  const auth = new Authenticator(adapters.devices, undefined, () => clock);
  const lastSeen = async () => (await adapters.devices.findByToken(hashToken(token)))!.lastSeenAt;
  const use = async (atMs: number) => {
    clock = atMs;
    const principal = await auth.principal(token);
    assert.deepEqual(principal, { kind: 'user', userId, deviceId: created.id });
    await new Promise((resolve) => setImmediate(resolve)); // the write is not awaited by the request
  };
  await use(start + 30_000);
  assert.equal(await lastSeen(), created.lastSeenAt, 'half a minute later: unchanged');
  await use(start + 61_000);
  assert.equal(await lastSeen(), new Date(start + 61_000).toISOString());
  await use(start + 90_000);
  assert.equal(await lastSeen(), new Date(start + 61_000).toISOString(), 'within the minute after the last write: unchanged');
  await use(start + 125_000);
  assert.equal(await lastSeen(), new Date(start + 125_000).toISOString());
  assert.equal(await auth.principal(newToken()), undefined);
});
