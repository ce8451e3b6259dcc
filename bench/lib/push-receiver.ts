// A loopback HTTPS push service for latency: it answers 201 and records when each push arrived
// (performance.now() in this process, the same clock as the bench's other clients). It does not
// decrypt: a real push service does that on its own machines.

import { execFileSync } from 'node:child_process';
import { createECDH, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface PushReceiver {
  origin: string;
  caFile: string;
  /** Arrival times, in order. */
  arrivals: number[];
  subscription(name: string): { endpoint: string; keys: { p256dh: string; auth: string } };
  onArrival(listener: () => void): void;
  close(): Promise<void>;
}

export async function startPushReceiver(): Promise<PushReceiver> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mailpush-bench-push-'));
  const keyFile = path.join(dir, 'key.pem');
  const caFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', caFile], { stdio: 'ignore' });
  const arrivals: number[] = [];
  const listeners: Array<() => void> = [];
  const server = createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (req, res) => {
    req.resume();
    req.on('end', () => {
      arrivals.push(performance.now());
      res.writeHead(201).end();
      listeners.forEach((l) => l());
    });
  });
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    origin,
    caFile,
    arrivals,
    subscription(name) {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      return { endpoint: `${origin}/push/${name}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') } };
    },
    onArrival: (listener) => listeners.push(listener),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
