// node bench/tls-socket-memory.mjs [connections, default 3000]
//
// What one idle client socket costs a Node process, TLS against plaintext, with nothing else
// around it: no imapflow, no mailpush. A TLS server in a child process (a throwaway RSA-2048
// certificate, TLS 1.3, two session tickets per connection like Dovecot) greets each connection
// with an IMAP-like line and answers one command; a child process per kind of socket opens them 20 at a time
// with one shared SecureContext (as src/imap/tls-context.ts does), lets them sit, collects garbage
// and reads its RSS. Run it under different allocator settings to see what they change, e.g.
//   GLIBC_TUNABLES=glibc.malloc.mmap_threshold=32768 node bench/tls-socket-memory.mjs
//   TLS_GROUPS=X25519:P-256 node bench/tls-socket-memory.mjs   (no post-quantum ML-KEM key share)
//   SERVER_TLS_GROUPS=X25519:P-256:P-384 …   (a server without ML-KEM, as Dovecot on OpenSSL 3.0)
// and under heaptrack to see which allocations stay (docs/benchmarks.md, "Over TLS").

import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

const GREETING = '* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n';

if (process.argv[2] === 'serve') {
  // The child: a TLS and a plaintext listener on free loopback ports, reported to the parent.
  const dir = process.argv[3];
  const greet = (socket) => {
    socket.on('error', () => {});
    socket.write(GREETING);
    socket.on('data', () => socket.write('+ idling\r\n'));
  };
  const secure = tls.createServer({
    key: readFileSync(path.join(dir, 'key.pem')),
    cert: readFileSync(path.join(dir, 'cert.pem')),
    ...(process.env.SERVER_TLS_GROUPS ? { ecdhCurve: process.env.SERVER_TLS_GROUPS } : {}),
  }, greet);
  const plain = net.createServer(greet);
  secure.listen(0, '127.0.0.1', () => plain.listen(0, '127.0.0.1', () => process.send({ tls: secure.address().port, plain: plain.address().port })));
} else if (process.argv[2] === 'measure') {
  // A child per kind of socket, so one kind's freed memory cannot be reused by the other.
  const [, , , kind, tlsPort, plainPort, dir, count] = process.argv;
  const connections = Number(count);
  const context = tls.createSecureContext({ ca: readFileSync(path.join(dir, 'cert.pem')), ...(process.env.TLS_GROUPS ? { ecdhCurve: process.env.TLS_GROUPS } : {}) });
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const rss = () => Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096;
  const collect = async () => {
    for (let i = 0; i < 3; i++) {
      globalThis.gc?.();
      await sleep(300);
    }
  };
  const open = () => new Promise((resolve, reject) => {
    const socket = kind === 'tls'
      ? tls.connect({ host: '127.0.0.1', port: Number(tlsPort), servername: 'localhost', secureContext: context })
      : net.connect(Number(plainPort), '127.0.0.1');
    socket.setNoDelay(true);
    socket.once('error', reject);
    // Greeting, one command and its answer: the socket has read and written, as an IDLE one has.
    socket.once('data', () => {
      socket.write('A1 IDLE\r\n');
      socket.once('data', () => resolve(socket));
    });
  });
  await collect();
  const before = { rss: rss(), ...process.memoryUsage() };
  const held = [];
  let next = 0;
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (next++ < connections) held.push(await open());
  }));
  await sleep(1000);
  await collect();
  const after = { rss: rss(), ...process.memoryUsage() };
  const kib = (bytes) => (bytes / connections / 1024).toFixed(1);
  const native = after.rss - before.rss - (after.heapTotal - before.heapTotal) - (after.external - before.external);
  console.log(`| ${kind === 'tls' ? 'TLS' : 'plaintext'} | ${connections} | ${kib(after.rss - before.rss)} KiB | ${kib(after.heapUsed - before.heapUsed)} KiB | ${kib(native)} KiB |`);
  process.exit(0);
} else {
  const connections = Number(process.argv[2] ?? 3000);
  const dir = mkdtempSync(path.join(tmpdir(), 'mailpush-tls-memory-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
  const self = new URL(import.meta.url).pathname;
  // The server does not get the measured process's allocator settings.
  const server = fork(self, ['serve', dir], { env: { PATH: process.env.PATH } });
  try {
    const ports = await new Promise((resolve) => server.once('message', resolve));
    console.log(`Node.js ${process.version}, OpenSSL ${process.versions.openssl}${process.env.GLIBC_TUNABLES ? `, GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES}` : ''}${process.env.TLS_GROUPS ? `, groups ${process.env.TLS_GROUPS}` : ''}`);
    console.log('| socket | connections | RSS per connection | JS heap used | native (RSS − heap − external) |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const kind of ['plain', 'tls']) {
      const child = fork(self, ['measure', kind, String(ports.tls), String(ports.plain), dir, String(connections)], { execArgv: ['--expose-gc'] });
      await new Promise((resolve) => child.once('exit', resolve));
    }
  } finally {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
