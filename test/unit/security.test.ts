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

test('IPv6 forms that embed an IPv4 address are judged by that address: private ones refused, public ones allowed', () => {
  // [form, its IPv6 text for an IPv4 address]
  const hex = (v4: string) => {
    const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
    return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
  };
  const inverted = (v4: string) => v4.split('.').map((n) => String(Number(n) ^ 0xff)).join('.');
  const forms: Array<[string, (v4: string) => string]> = [
    ['NAT64 64:ff9b::/96', (v4) => `64:ff9b::${v4}`],
    ['NAT64 64:ff9b::/96, hex', (v4) => `64:ff9b::${hex(v4).join(':')}`],
    ['NAT64 local-use 64:ff9b:1::/48 at /96', (v4) => `64:ff9b:1::${v4}`],
    ['NAT64 local-use 64:ff9b:1::/48 at /48', (v4) => {
      const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
      return `64:ff9b:1:${((a << 8) | b).toString(16)}:${c.toString(16)}:${(d << 8).toString(16)}::`;
    }],
    ['IPv4-compatible ::/96', (v4) => `::${v4}`],
    ['IPv4-compatible ::/96, hex', (v4) => `::${hex(v4).join(':')}`],
    ['IPv4-mapped ::ffff:0:0/96, hex', (v4) => `::ffff:${hex(v4).join(':')}`],
    ['IPv4-mapped ::ffff:0:0/96', (v4) => `::ffff:${v4}`],
    ['SIIT ::ffff:0:0:0/96', (v4) => `::ffff:0:${v4}`],
    ['6to4 2002::/16', (v4) => `2002:${hex(v4).join(':')}::1`],
    ['Teredo 2001::/32, server', (v4) => `2001:0:${hex(v4).join(':')}:8000:63bf:${hex(inverted('93.184.216.34')).join(':')}`],
    ['Teredo 2001::/32, client', (v4) => `2001:0:${hex('93.184.216.34').join(':')}:8000:63bf:${hex(inverted(v4)).join(':')}`],
  ];
  for (const [form, write] of forms) {
    for (const v4 of ['127.0.0.1', '10.1.2.3', '192.168.1.20', '169.254.169.254', '0.0.0.0']) {
      assert.equal(isPublicAddress(write(v4)), false, `${form}: ${write(v4)} embeds ${v4}`);
    }
    assert.equal(isPublicAddress(write('93.184.216.34')), true, `${form}: ${write('93.184.216.34')} embeds a public address`);
  }
  // The local-use NAT64 prefix's length is the operator's: a private address at any RFC 6052 position that fits is refused.
  assert.equal(isPublicAddress('64:ff9b:1:7f00:1::'), false);
  assert.equal(isPublicAddress('::'), false);
  assert.equal(isPublicAddress('::1'), false);
  assert.equal(isPublicAddress('fe80::1%eth0'), false);
  assert.equal(isPublicAddress('2001:db8::1'), false);
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
