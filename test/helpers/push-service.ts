// A push service on loopback, playing the part of FCM / Mozilla autopush / Apple's web push: an
// HTTPS server (self-signed certificate, trusted by the gateway through NODE_EXTRA_CA_CERTS) that
// checks each request's VAPID authorization and decrypts its aes128gcm body with the subscription's
// private key, using this file's own RFC 8291 code (not web-push's).

import { createDecipheriv, createECDH, createHmac, createPublicKey, randomBytes, verify, type ECDH } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** How an endpoint answers, one entry per request in order; the last one repeats. */
export type Behaviour = { status: number; headers?: Record<string, string> } | 'hang';

export interface Received {
  name: string;
  at: number;
  /** performance.now() when the request's body had arrived, before any checking (for timing). */
  arrivedAt: number;
  headers: Record<string, string | string[] | undefined>;
  vapid: { aud: string; exp: number; sub: string; publicKey: string };
  payload: any;
  bodyBytes: number;
}

export interface TestSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

function hmac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** RFC 8291 §3.4 + RFC 8188: one aes128gcm record, decrypted with the user agent's keys. */
export function decryptAes128gcm(body: Buffer, ua: ECDH, authSecret: Buffer): Buffer {
  const salt = body.subarray(0, 16);
  const idlen = body[20]!;
  const asPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  const ecdhSecret = ua.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ua.getPublicKey(), asPublic]);
  const ikm = hmac(hmac(authSecret, ecdhSecret), Buffer.concat([keyInfo, Buffer.from([1])]));
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12);
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  // The last record ends with the delimiter 0x02, then zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error('bad padding delimiter');
  return padded.subarray(0, end);
}

/** Checks `vapid t=<jwt>, k=<key>` (RFC 8292): ES256 signature, audience, expiry, subject. */
function verifyVapid(header: string | undefined, origin: string): Received['vapid'] {
  const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!match) throw new Error(`bad Authorization header: ${header}`);
  const [, jwt, k] = match as unknown as [string, string, string];
  const [head, claims, signature] = jwt.split('.') as [string, string, string];
  const raw = Buffer.from(k, 'base64url');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33, 65).toString('base64url') }, format: 'jwk' });
  const valid = verify('sha256', Buffer.from(`${head}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
  if (!valid) throw new Error('VAPID signature does not verify');
  if (JSON.parse(Buffer.from(head, 'base64url').toString()).alg !== 'ES256') throw new Error('VAPID alg is not ES256');
  const parsed = JSON.parse(Buffer.from(claims, 'base64url').toString()) as { aud: string; exp: number; sub: string };
  if (parsed.aud !== origin) throw new Error(`VAPID aud ${parsed.aud} is not ${origin}`);
  const now = Date.now() / 1000;
  if (!(parsed.exp > now && parsed.exp <= now + 24 * 3600)) throw new Error(`VAPID exp ${parsed.exp} is not within 24 h`);
  if (!/^(mailto:|https:)/.test(parsed.sub)) throw new Error(`VAPID sub ${parsed.sub} is not mailto: or https:`);
  return { ...parsed, publicKey: k };
}

export interface PushService {
  origin: string;
  /** PEM of the self-signed certificate, for NODE_EXTRA_CA_CERTS. */
  caFile: string;
  received: Received[];
  /** Requests refused as invalid (bad VAPID, undecryptable body), with the reason. */
  rejected: string[];
  /**
   * Subscribes `name` (its endpoint answers as `behaviours` say; 'hang' accepts the request and
   * never answers). `origin`: one from addOrigin(), for an endpoint on a push service of its own.
   */
  subscribe(name: string, behaviours?: Behaviour[], options?: { origin?: string }): TestSubscription;
  /**
   * Another HTTPS push service on its own loopback port (same certificate, same endpoints and
   * records), for tests that need many origins. It keeps idle connections open (like FCM does), so
   * what closes them is the gateway.
   */
  addOrigin(): Promise<string>;
  /** Drops the connections of every request left hanging so far (the gateway sees a network error). */
  releaseHanging(): void;
  /** An origin whose server accepts TCP connections and never says a word (not even TLS's). */
  addSilentOrigin(): Promise<string>;
  /** Connections open to these origins (default: the push service and every added one), as the servers see them. */
  openConnections(origins?: string[]): Promise<number>;
  setBehaviour(name: string, behaviours: Behaviour[]): void;
  /** Requests that reached an endpoint, whatever they were answered. */
  requests(name: string): number;
  /** Called with each accepted push as it is recorded. */
  onReceived(listener: (push: Received) => void): void;
  close(): Promise<void>;
}

export async function startPushService(): Promise<PushService> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-push-'));
  const keyFile = path.join(dir, 'key.pem');
  const caFile = path.join(dir, 'cert.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', caFile]);
  const users = new Map<string, { ecdh: ECDH; auth: Buffer; behaviours: Behaviour[]; requests: number }>();
  const received: Received[] = [];
  const rejected: string[] = [];
  const listeners: Array<(push: Received) => void> = [];
  const hanging = new Set<ServerResponse>();
  const silentServers: TcpServer[] = [];
  const silentSockets = new Set<Socket>();

  const tls = { key: await readFile(keyFile), cert: await readFile(caFile) };
  const servers = new Map<string, Server>();
  /** Starts one HTTPS push service on a free loopback port; resolves with its origin. */
  const listen = async (options: { keepIdleConnections?: boolean } = {}): Promise<string> => {
    let serverOrigin = '';
    const server = createServer(tls, (req, res) => handle(req, res, serverOrigin));
    // Idle connections stay open until the client closes them (Node's default closes them after 5 s).
    if (options.keepIdleConnections) server.keepAliveTimeout = 600_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    serverOrigin = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    servers.set(serverOrigin, server);
    return serverOrigin;
  };
  const handle = (req: IncomingMessage, res: ServerResponse, serverOrigin: string) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const arrivedAt = performance.now();
      const name = decodeURIComponent((req.url ?? '').replace(/^\/push\//, ''));
      const user = users.get(name);
      if (req.method !== 'POST' || !user) {
        res.writeHead(404).end();
        return;
      }
      user.requests++;
      const behaviour = user.behaviours.length > 1 ? user.behaviours.shift()! : user.behaviours[0] ?? { status: 201 };
      if (behaviour === 'hang') {
        hanging.add(res);
        return;
      }
      try {
        const body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] !== 'aes128gcm') throw new Error('content-encoding is not aes128gcm');
        const vapid = verifyVapid(req.headers.authorization, serverOrigin);
        const payload = JSON.parse(decryptAes128gcm(body, user.ecdh, user.auth).toString('utf8'));
        if (behaviour.status < 300) {
          const push: Received = { name, at: Date.now(), arrivedAt, headers: req.headers, vapid, payload, bodyBytes: body.length };
          received.push(push);
          listeners.forEach((listener) => listener(push));
        }
        res.writeHead(behaviour.status, behaviour.headers).end();
      } catch (error) {
        rejected.push(`${name}: ${(error as Error).message}`);
        res.writeHead(400).end();
      }
    });
  };
  const origin = await listen();

  return {
    origin,
    caFile,
    received,
    rejected,
    subscribe(name, behaviours = [{ status: 201 }], options = {}) {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16);
      users.set(name, { ecdh, auth, behaviours: [...behaviours], requests: 0 });
      return { endpoint: `${options.origin ?? origin}/push/${encodeURIComponent(name)}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } };
    },
    setBehaviour(name, behaviours) {
      users.get(name)!.behaviours = [...behaviours];
    },
    requests(name) {
      return users.get(name)?.requests ?? 0;
    },
    onReceived(listener) {
      listeners.push(listener);
    },
    addOrigin: () => listen({ keepIdleConnections: true }),
    releaseHanging() {
      hanging.forEach((res) => res.destroy());
      hanging.clear();
    },
    async addSilentOrigin() {
      const server = createTcpServer((socket) => {
        silentSockets.add(socket);
        socket.on('close', () => silentSockets.delete(socket));
        socket.on('error', () => undefined);
      });
      silentServers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    },
    async openConnections(origins = [...servers.keys()]) {
      const counts = await Promise.all(origins.map((o) => servers.get(o)!).map((server) => new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))))));
      return counts.reduce((sum, n) => sum + n, 0);
    },
    async close() {
      hanging.forEach((res) => res.destroy());
      silentSockets.forEach((socket) => socket.destroy());
      await Promise.all(silentServers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      await Promise.all([...servers.values()].map((server) => {
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      }));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
