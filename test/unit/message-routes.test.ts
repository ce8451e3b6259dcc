// The message routes without a worker or IMAP: what the web process answers by itself (no holder,
// a disabled account, someone else's) and the per-user rate limit, on the embedded adapters.
// test/integration/message-actions.test.ts covers the commands end to end against Dovecot.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { Adapters } from '../../src/adapters/adapters.js';
import { createEmbeddedAdapters } from '../../src/adapters/embedded.js';
import { loadConfig } from '../../src/config.js';
import { hashToken, newId, newToken } from '../../src/core/tokens.js';
import type { AccountRecord } from '../../src/core/types.js';
import { buildWebApp } from '../../src/roles/web/app.js';
import { MESSAGE_ACTIONS_PER_MINUTE } from '../../src/roles/web/routes/messages.js';

let dataDir: string;
let app: FastifyInstance;
let adapters: Adapters;

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'mailpush-messages-'));
  const config = loadConfig({ DATA_DIR: dataDir, MAILPUSH_SECRET: 'messages-unit-test-secret-long-enough-for-32' });
  adapters = createEmbeddedAdapters(config);
  app = await buildWebApp({ config, adapters, logger: pino({ level: 'silent' }) });
});

after(async () => {
  await app.close();
  await adapters.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function userWithAccount(disabled = false): Promise<{ token: string; accountId: string }> {
  const token = newToken();
  const userId = await adapters.users.create(hashToken(token));
  const now = new Date().toISOString();
  const record: AccountRecord = {
    userId, accountId: newId('acc'), email: 'a@example.test', imap: { host: 'imap.example.test', port: 993, security: 'tls', user: 'a' },
    sealedPassword: 'v1.x.y.z', mailboxes: ['INBOX'], disabled, state: disabled ? 'disabled' : 'connecting', createdAt: now, updatedAt: now,
  };
  await adapters.accounts.create(record, `identity-${record.accountId}`);
  return { token, accountId: record.accountId };
}

const seen = (accountId: string, token: string, remoteAddress = '192.0.2.1') => app.inject({
  method: 'POST', url: `/v1/accounts/${accountId}/messages/7/actions`, remoteAddress,
  headers: { authorization: `Bearer ${token}` }, payload: { action: 'seen', uidValidity: 1 },
});

test('no worker holds the account: 503 mailbox_unavailable with Retry-After, after waiting a moment for one', async () => {
  const { token, accountId } = await userWithAccount();
  const startedAt = Date.now();
  const answer = await seen(accountId, token);
  assert.deepEqual([answer.statusCode, answer.json().error.code], [503, 'mailbox_unavailable']);
  assert.equal(answer.headers['retry-after'], '5');
  assert.ok(Date.now() - startedAt >= 2500, 'a holder being claimed right now gets its chance');
});

test('a disabled account is 409 account_disabled; another user\'s account and a mailbox it does not watch are 404', async () => {
  const disabled = await userWithAccount(true);
  const answer = await seen(disabled.accountId, disabled.token);
  assert.deepEqual([answer.statusCode, answer.json().error.code], [409, 'account_disabled']);
  const mine = await userWithAccount();
  assert.deepEqual((await seen(mine.accountId, disabled.token)).statusCode, 404);
  const read = await app.inject({ method: 'GET', url: `/v1/accounts/${mine.accountId}/messages/7?uidValidity=1&mailbox=Archive`, headers: { authorization: `Bearer ${mine.token}` } });
  assert.deepEqual([read.statusCode, read.json().error.code], [404, 'not_found']);
  const noValidity = await app.inject({ method: 'GET', url: `/v1/accounts/${mine.accountId}/messages/7`, headers: { authorization: `Bearer ${mine.token}` } });
  assert.deepEqual([noValidity.statusCode, noValidity.json().error.code], [400, 'invalid_request']);
});

test('actions are limited per user, whichever address they come from; another user has an allowance of its own', async () => {
  const busy = await userWithAccount();
  const missing = 'acc_missing';
  for (let i = 0; i < MESSAGE_ACTIONS_PER_MINUTE; i++) assert.equal((await seen(missing, busy.token, `198.51.100.${i + 1}`)).statusCode, 404);
  const limited = await seen(missing, busy.token, '203.0.113.77');
  assert.deepEqual([limited.statusCode, limited.json().error.code], [429, 'rate_limited']);
  assert.ok(Number(limited.headers['retry-after']) >= 1);
  const other = await userWithAccount();
  assert.equal((await seen(missing, other.token, '203.0.113.77')).statusCode, 404, 'the same address, another user');
});
