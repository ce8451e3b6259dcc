// npm run bench:push — pushes per second to a loopback push service, through mailpush's sender
// and through plain `webpush.sendNotification`, in the same run. Not a test: numbers only.
//
// The push service is a separate process answering 201 without decrypting (a real one does the
// decryption on its own machines), so the client side is what gets measured. The goal is "on one
// core": where `taskset` is there and there are two cores, the senders run pinned to core 0 and the
// push service to core 1, so that neither takes the other's CPU and rounds vary less.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createECDH, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import webpush from 'web-push';
import { PushSender } from '../src/push/sender.js';
import { VapidSigner, generateVapidKeys } from '../src/push/vapid.js';
import { pushFor } from '../src/push/payload.js';
import type { PushSubscriptionRecord } from '../src/core/ports.js';
import type { MailEvent } from '../src/core/types.js';

const PUSHES = Number(process.env.BENCH_PUSHES ?? 4000);
const CONCURRENCY = 50;

/** `command` pinned to one core with taskset, when there is more than one core and taskset runs. */
function pinned(core: number, command: string, args: string[]): [string, string[]] {
  if (cpus().length < 2) return [command, args];
  try {
    execFileSync('taskset', ['-c', String(core), 'true'], { stdio: 'ignore' });
    return ['taskset', ['-c', String(core), command, ...args]];
  } catch {
    return [command, args];
  }
}

if (process.argv[2] === 'serve') {
  // Child: the push service.
  const server = createServer({ key: readFileSync(process.env.KEY_FILE!), cert: readFileSync(process.env.CERT_FILE!) }, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(201).end());
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as { port: number }).port));
} else if (!process.env.MAILPUSH_BENCH_CHILD) {
  // Re-run with the test certificate trusted, as the gateway would be deployed.
  const dir = mkdtempSync(path.join(tmpdir(), 'mailpush-bench-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  const [command, args] = pinned(0, process.execPath, [fileURLToPath(import.meta.url)]);
  execFileSync(command, args, { stdio: 'inherit', env: { ...process.env, MAILPUSH_BENCH_CHILD: '1', NODE_EXTRA_CA_CERTS: certFile, KEY_FILE: keyFile, CERT_FILE: certFile } });
} else {
  await main();
}

async function runPool(total: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < total) await task(next++);
  }));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function main(): Promise<void> {
  // The push service: pinned to the other core (a child would otherwise inherit core 0).
  const [command, args] = pinned(1, process.execPath, [fileURLToPath(import.meta.url), 'serve']);
  const child: ChildProcess = spawn(command, args, { env: process.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (p) => resolve(p as number)));
  const origin = `https://127.0.0.1:${port}`;
  const vapid = { ...generateVapidKeys(), subject: 'mailto:bench@example.test' };
  const ua = createECDH('prime256v1');
  ua.generateKeys();
  const keys = { p256dh: ua.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') };
  const subscription: PushSubscriptionRecord = {
    id: 'sub_bench', userId: 'usr_bench', endpoint: `${origin}/push/bench`, keys, expirationTime: null,
    accounts: [], preview: 'full', createdAt: '', updatedAt: '',
  };
  const event = {
    id: '1-0', type: 'mail.new', accountId: 'acc_bench', mailbox: 'INBOX', time: new Date().toISOString(),
    data: { uid: 1, uidValidity: '1', messageId: '<a@b>', from: { name: 'Bench Sender', address: 'bench@example.test' }, subject: 'A subject of ordinary length for a benchmark', date: null, unseen: 1, catchUp: false },
  } as MailEvent;
  const message = pushFor(event, 'full')!;
  const payload = JSON.stringify(message.payload);

  const sender = new PushSender({ vapid: new VapidSigner(vapid), ttlSeconds: 86400, timeoutMs: 10_000, allowPrivateEndpoints: true });
  webpush.setVapidDetails(vapid.subject, vapid.publicKey, vapid.privateKey);
  const plain = (): Promise<unknown> => webpush.sendNotification({ endpoint: subscription.endpoint, keys }, payload, { TTL: 86400, urgency: 'high' });

  // Warm both paths (TLS handshakes, JIT) before measuring.
  await runPool(200, () => sender.send(subscription, message));
  await runPool(200, plain);
  const rounds: Array<{ mailpush: number; webpush: number }> = [];
  for (let round = 0; round < 3; round++) {
    const ours = PUSHES / (await runPool(PUSHES, () => sender.send(subscription, message)));
    const theirs = PUSHES / (await runPool(PUSHES, plain));
    rounds.push({ mailpush: ours, webpush: theirs });
  }
  sender.close();
  child.kill();
  const best = (key: 'mailpush' | 'webpush') => Math.max(...rounds.map((r) => r[key]));
  const placement = command === 'taskset' ? 'senders on core 0, push service on core 1' : 'not pinned';
  console.log(`\nWeb Push throughput — ${PUSHES} pushes x 3 rounds, concurrency ${CONCURRENCY}, ${cpus().length} cores (${cpus()[0]?.model.trim()}; ${placement}), node ${process.version}`);
  console.log('| sender | pushes/s (best of 3) | rounds |');
  console.log('| --- | ---: | --- |');
  console.log(`| mailpush PushSender | ${best('mailpush').toFixed(0)} | ${rounds.map((r) => r.mailpush.toFixed(0)).join(', ')} |`);
  console.log(`| webpush.sendNotification | ${best('webpush').toFixed(0)} | ${rounds.map((r) => r.webpush.toFixed(0)).join(', ')} |`);
  console.log(`| ratio | ${(best('mailpush') / best('webpush')).toFixed(2)}x | |`);
}
