import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretBox } from '../../src/core/secret-box.js';
import { hashToken, newToken } from '../../src/core/tokens.js';
import { isPublicAddress, resolveTarget, HostNotAllowedError } from '../../src/core/address-policy.js';

test('sealed passwords open only with the same secret and account', () => {
  const box = new SecretBox('one secret of enough length');
  const sealed = box.seal('hunter2 ünïcödé', 'acc_1');
  assert.ok(!sealed.includes('hunter2'));
  assert.equal(box.open(sealed, 'acc_1'), 'hunter2 ünïcödé');
  assert.notEqual(box.seal('hunter2', 'acc_1'), box.seal('hunter2', 'acc_1'), 'a fresh IV every time');
  assert.throws(() => box.open(sealed, 'acc_2'));
  assert.throws(() => new SecretBox('another secret of enough length').open(sealed, 'acc_1'));
  const [v, iv, body, tag] = sealed.split('.');
  const flipped = Buffer.from(body!, 'base64url');
  flipped[0] = flipped[0]! ^ 1;
  assert.throws(() => box.open([v, iv, flipped.toString('base64url'), tag].join('.'), 'acc_1'));
});

test('tokens carry 256 random bits and are stored as a hash', () => {
  const token = newToken();
  assert.ok(Buffer.from(token.slice(4), 'base64url').length >= 32);
  assert.notEqual(newToken(), token);
  assert.match(hashToken(token), /^[0-9a-f]{64}$/);
  assert.ok(!hashToken(token).includes(token));
});

test('private, loopback and link-local addresses are not public', () => {
  for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '100.64.0.1']) {
    assert.equal(isPublicAddress(address), false, address);
  }
  for (const address of ['1.1.1.1', '93.184.216.34', '2606:4700:4700::1111']) {
    assert.equal(isPublicAddress(address), true, address);
  }
});

test('a host resolving to loopback is refused unless allowed', async () => {
  await assert.rejects(resolveTarget('localhost', { allowPrivate: false, allowedHosts: [] }), HostNotAllowedError);
  await assert.rejects(resolveTarget('127.0.0.1', { allowPrivate: false, allowedHosts: [] }), HostNotAllowedError);
  await assert.rejects(resolveTarget('bad host!', { allowPrivate: true, allowedHosts: [] }), HostNotAllowedError);
  const allowed = await resolveTarget('localhost', { allowPrivate: false, allowedHosts: ['localhost'] });
  assert.match(allowed.address, /^(127\.0\.0\.1|::1)$/);
  assert.equal(allowed.servername, 'localhost');
  const literal = await resolveTarget('127.0.0.1', { allowPrivate: true, allowedHosts: [] });
  assert.deepEqual(literal, { address: '127.0.0.1', servername: undefined });
});
