// AccountRegistration without Fastify, over the embedded adapters: what is refused before any
// IMAP login and before a user is created. Registrations that log in are tested against Dovecot in
// test/integration/accounts.test.ts.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Adapters } from '../../src/adapters/adapters.js';
import { createEmbeddedAdapters } from '../../src/adapters/embedded.js';
import { loadConfig } from '../../src/config.js';
import { SecretBox } from '../../src/core/secret-box.js';
import { hashToken, newToken } from '../../src/core/tokens.js';
import { HostLimiter } from '../../src/imap/host-limiter.js';
import { AccountRegistration, type RegistrationRequest } from '../../src/roles/web/account-registration.js';
import { ApiError } from '../../src/roles/web/errors.js';

let dir: string;
let adapters: Adapters;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mailpush-registration-'));
  adapters = createEmbeddedAdapters({ dataDir: dir, events: { batchSize: 25, retentionCount: 100, retentionMs: 86400_000 } });
});

after(async () => {
  await adapters?.close();
  await rm(dir, { recursive: true, force: true });
});

function registration(env: Record<string, string> = {}): AccountRegistration {
  const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6390', MAILPUSH_SECRET: 'a-secret-of-enough-length-for-32-characters', ...env });
  const { accounts, users, devices, control } = adapters;
  return new AccountRegistration({ config, accounts, users, devices, control, secretBox: new SecretBox(config.secret), imap: { config, limiter: new HostLimiter(1) } });
}

const refused = (status: number, code: string) => (error: unknown) => error instanceof ApiError && error.statusCode === status && error.code === code;
const mailbox = (imap: Partial<RegistrationRequest['imap']>): RegistrationRequest => ({ imap: { user: 'ann', pass: 'secret', ...imap } });

test('without a host, and no default host on the gateway, it is a 400', async () => {
  await assert.rejects(registration().register(mailbox({}), undefined), refused(400, 'invalid_request'));
});

test('a mailbox the user registered already is a 409 before any login, however host and login are spelled', async () => {
  const userId = await adapters.users.create(hashToken(newToken()));
  const service = registration({ IMAP_DEFAULT_HOST: 'imap.example.test' });
  const now = new Date().toISOString();
  const existing = {
    userId, accountId: 'acc_existing', email: 'ann@imap.example.test', imap: { host: 'imap.example.test', port: 993, security: 'tls' as const, user: 'ann' },
    sealedPassword: 'v1.x.y.z', mailboxes: ['INBOX'], disabled: false, state: 'idle' as const, createdAt: now, updatedAt: now,
  };
  assert.equal(await adapters.accounts.create(existing, 'imap.example.test|993|ann'), 'created');
  // example.test does not resolve: reaching the login would be a 502, not a 409.
  await assert.rejects(service.register(mailbox({ host: ' IMAP.Example.TEST ', user: 'ANN' }), userId), refused(409, 'account_exists'));
  await assert.rejects(service.register(mailbox({ user: 'Ann' }), userId), refused(409, 'account_exists'), 'the default host and port');
  assert.deepEqual((await adapters.accounts.listForUser(userId)).map((account) => account.accountId), ['acc_existing']);
});

test('a login refused by the gateway\'s own rules maps to its error code, and registers nothing', async () => {
  const userId = await adapters.users.create(hashToken(newToken()));
  await assert.rejects(registration().register(mailbox({ host: '127.0.0.1', port: 993 }), userId), refused(403, 'imap_host_not_allowed'));
  await assert.rejects(registration().register(mailbox({ host: 'imap.example.test', security: 'none' }), userId), refused(403, 'imap_insecure_not_allowed'));
  assert.deepEqual(await adapters.accounts.listForUser(userId), []);
});
