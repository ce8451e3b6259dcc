// The gateway a fuzz run attacks, and what the run checks besides each answer: two users (alice,
// whose token the fuzzer holds, and bob, who must never be touched), each with a watched Dovecot
// mailbox, a push subscription and a mail event; snapshots of their stored state; and a tripwire
// that records every outbound connection attempt of this process that is not to loopback.
//
// The gateway may only ever connect to loopback: IMAP to 127.0.0.1 alone (IMAP_ALLOW_PRIVATE off,
// IMAP_ALLOWED_HOSTS=127.0.0.1, IMAP_ALLOWED_PORTS the test Dovecot's and a closed port, so a login
// proof fails fast), and push endpoints only from the fuzzer's loopback pool (private endpoints are
// allowed, so that subscriptions can be made at all, which is why no other address is offered).

import { createECDH, randomBytes } from 'node:crypto';
import dc from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import webpush from 'web-push';
import type { Adapters } from '../../src/adapters/adapters.js';
import type { Dovecot, DovecotUser } from './dovecot.js';
import type { Fixtures } from './fixtures.js';
import { api, registerWatched, type TestGateway } from './gateway.js';
import { buildMessage } from './message.js';
import { freePort } from './ports.js';
import type { RedisServer } from './redis.js';
import { waitFor } from './wait.js';

export interface FuzzUser {
  token: string;
  userId: string;
  accountId: string;
  subscriptionId: string;
  email: string;
  eventIds: string[];
}

export interface FuzzWorld {
  gateway: TestGateway;
  base: string;
  adminToken: string;
  /** A loopback port nothing listens on: IMAP logins and pushes sent there fail at once. */
  closedPort: number;
  dovecotPort: number;
  alice: FuzzUser;
  bob: FuzzUser;
  agent: http.Agent;
}

export const ADMIN_TOKEN = 'fuzz-admin-token-0123456789abcdef';

/** A real browser-like push subscription key pair (P-256 point, 16-byte auth secret). */
export function subscriptionKeys(): { p256dh: string; auth: string } {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') };
}

export async function startFuzzWorld(fixtures: Fixtures, dovecot: Dovecot, redis: RedisServer | undefined): Promise<FuzzWorld> {
  const closedPort = await freePort();
  const dataDir = redis ? undefined : await fixtures.start('data dir', mkdtemp(path.join(tmpdir(), 'mailpush-fuzz-')), (dir) => rm(dir, { recursive: true, force: true }));
  const vapid = webpush.generateVAPIDKeys();
  const gateway = await fixtures.gateway({
    ...(redis ? { redisUrl: redis.url } : { dataDir: dataDir! }),
    imapPort: closedPort,
    env: {
      LOG_LEVEL: 'warn',
      ADMIN_TOKEN,
      IMAP_ALLOW_PRIVATE: 'false',
      IMAP_ALLOWED_HOSTS: '127.0.0.1',
      IMAP_ALLOWED_PORTS: `${dovecot.imapPort},${closedPort}`,
      IMAP_CONNECT_TIMEOUT_SECONDS: '5',
      REGISTER_RATE_LIMIT_PER_MINUTE: '1000000',
      WS_AUTH_TIMEOUT_SECONDS: '2',
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: 'mailto:ops@example.test',
      PUSH_ALLOW_PRIVATE_ENDPOINTS: 'true',
      PUSH_MAX_ATTEMPTS: '1',
    },
  });
  const base = gateway.url!;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const [aliceLogin, bobLogin] = await dovecot.addUsers([`alice${randomBytes(3).toString('hex')}`, `bob${randomBytes(3).toString('hex')}`]);
  const [alice, bob] = await Promise.all([makeUser(base, dovecot, aliceLogin!, closedPort, 'alice'), makeUser(base, dovecot, bobLogin!, closedPort, 'bob')]);
  return { gateway, base, adminToken: ADMIN_TOKEN, closedPort, dovecotPort: dovecot.imapPort, alice, bob, agent };
}

async function makeUser(base: string, dovecot: Dovecot, login: DovecotUser, closedPort: number, label: string): Promise<FuzzUser> {
  const registered = await registerWatched(base, { addUser: async () => login }, { imap: { host: '127.0.0.1', port: dovecot.imapPort, security: 'none' } });
  const subscribed = await api(base, 'POST', '/v1/push/subscriptions', {
    token: registered.token,
    body: { subscription: { endpoint: `https://127.0.0.1:${closedPort}/push/${label}`, keys: subscriptionKeys() }, preview: 'none' },
  });
  if (subscribed.status !== 201) throw new Error(`subscribing ${label} failed: ${subscribed.status} ${JSON.stringify(subscribed.body)}`);
  await dovecot.deliver(registered.user.email, buildMessage({ from: { address: 'sender@example.test' }, to: registered.user.email, subject: `hello ${label}` }));
  const events = await waitFor(async () => {
    const read = await api(base, 'GET', '/v1/events', { token: registered.token });
    const events = read.body.events as Array<{ id: string; type: string }>;
    return events.some((e) => e.type === 'mail.new') && events;
  }, { what: `${label}'s mail.new` });
  return {
    token: registered.token,
    userId: (await api(base, 'GET', '/v1/admin/accounts', { token: ADMIN_TOKEN })).body.accounts.find((a: { id: string }) => a.id === registered.accountId).userId,
    accountId: registered.accountId,
    subscriptionId: subscribed.body.id,
    email: registered.user.email,
    eventIds: events.map((e) => e.id),
  };
}

/**
 * What a user has stored. Fields the worker rewrites on its own (the connection's state, its error,
 * the unread count, updatedAt) and its account.state events are left out for the fuzzed user, whose
 * account the fuzzer may legitimately re-enable or repoint; everything a request could change is in.
 */
export async function snapshot(adapters: Adapters, userId: string, options: { strict: boolean }): Promise<string> {
  const [records, subscriptionRecords, eventRecords] = await Promise.all([
    adapters.accounts.listForUser(userId), adapters.pushSubscriptions.list(userId), adapters.eventLog.read(userId, undefined, 1000),
  ]);
  const accounts = records
    .map((record) => {
      if (options.strict) return record;
      const { state: _state, lastError: _lastError, unseen: _unseen, updatedAt: _updatedAt, ...rest } = record;
      return rest;
    })
    .sort((a, b) => a.accountId.localeCompare(b.accountId));
  const subscriptions = subscriptionRecords.sort((a, b) => a.id.localeCompare(b.id));
  const events = eventRecords.filter((e) => options.strict || e.type !== 'account.state');
  return JSON.stringify({ accounts, subscriptions, events });
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

/**
 * Records every connection attempt this process makes to an address that is not loopback (the
 * gateway runs in this process, so its IMAP logins and pushes are seen too). Returns the list
 * and a function that stops recording.
 */
export function outboundTripwire(): { attempts: string[]; stop(): void } {
  const attempts: string[] = [];
  const check = (address: unknown, port?: unknown) => {
    if (typeof address === 'string' && !LOOPBACK.test(address)) attempts.push(`${address}:${String(port ?? '?')}`);
  };
  const onSocket = (message: unknown) => {
    const socket = (message as { socket: Socket }).socket;
    socket.on('connectionAttempt', (ip: string, port: number) => check(ip, port));
    socket.on('lookup', (_error: Error | null, address: string) => check(address));
  };
  dc.subscribe('net.client.socket', onSocket);
  return { attempts, stop: () => dc.unsubscribe('net.client.socket', onSocket) };
}
