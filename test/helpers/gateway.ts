// Runs a real gateway (any role) in this process against the test Redis and Dovecot, with short
// timeouts set through configuration, plus small clients for its REST API and WebSocket stream.

import { Writable } from 'node:stream';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { startGateway, type Role, type RunningGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';
import type { Dovecot } from './dovecot.js';
import { gatewayEnv } from './gateway-env.js';
import { waitFor } from './wait.js';

export interface TestGateway extends RunningGateway {
  /** Every log line the gateway wrote, as text. */
  logs: string[];
}

export async function startTestGateway(options: {
  role?: Role;
  /** Without it the gateway runs embedded, on `dataDir`. */
  redisUrl?: string;
  dataDir?: string;
  imapPort: number;
  /** The test push service, for a gateway that sends Web Push. */
  push?: { caFile: string };
  env?: Record<string, string>;
}): Promise<TestGateway> {
  const config = loadConfig({
    ...gatewayEnv({ ...options, env: { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'debug', ...options.env } }),
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const gateway = await startGateway(options.role ?? 'all', config, createLogger(config.logLevel, sink));
  return Object.assign(gateway, { logs });
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function api<T = any>(base: string, method: string, path: string, options: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) {
    body = options.rawBody;
    headers['content-type'] = 'application/json';
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

/** A WebSocket client that records every message, for tests to wait on. */
export class StreamRecorder {
  readonly messages: any[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private waiters: Array<() => void> = [];

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()));
      this.notify();
    });
    socket.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.notify();
    });
    socket.on('error', () => undefined);
  }

  static open(base: string, options: { token?: string; since?: string; query?: string } = {}): StreamRecorder {
    const url = new URL('/v1/stream', base.replace(/^http/, 'ws'));
    if (options.since) url.searchParams.set('since', options.since);
    const headers = options.token ? { authorization: `Bearer ${options.token}` } : undefined;
    return new StreamRecorder(new WebSocket(`${url.toString()}${options.query ?? ''}`, { ...(headers ? { headers } : {}) }));
  }

  events(type?: string): any[] {
    return this.messages.filter((m) => m.id && (!type || m.type === type));
  }

  /** Resolves with the first message matching, waiting up to `timeoutMs`. */
  async waitFor(predicate: (message: any) => boolean, timeoutMs = 10_000, what = 'message'): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found) return found;
      if (this.closeCode !== undefined) throw new Error(`socket closed (${this.closeCode} ${this.closeReason}) before ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async waitForClose(timeoutMs = 15_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (this.closeCode === undefined) {
      if (Date.now() > deadline) throw new Error('socket did not close');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return { code: this.closeCode, reason: this.closeReason };
  }

  close(): void {
    this.socket.close();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }
}

/** Registers a new mailbox of `dovecot` and waits until its worker reports `state` (IDLE by default). */
export async function registerWatched(
  base: string,
  dovecot: Pick<Dovecot, 'addUser'>,
  options: { imap?: Record<string, unknown>; state?: string } = {},
) {
  const user = await dovecot.addUser();
  const created = await api(base, 'POST', '/v1/accounts', { body: { imap: { ...options.imap, user: user.user, pass: user.pass } } });
  if (created.status !== 201) throw new Error(`registration failed: ${created.status} ${JSON.stringify(created.body)}`);
  const token = created.body.token as string;
  const accountId = created.body.account.id as string;
  const account = async () => (await api(base, 'GET', `/v1/accounts/${accountId}`, { token })).body.account;
  const state = options.state ?? 'idle';
  await waitFor(async () => (await account()).state === state, { timeoutMs: 10_000, what: `the account to be ${state}` });
  return { user, token, accountId, account, created: created.body };
}

/** An authenticated stream that has received its `ready` message. */
export async function openReadyStream(base: string, token: string): Promise<StreamRecorder> {
  const stream = StreamRecorder.open(base, { token });
  await stream.waitFor((m) => m.type === 'ready', 5000, 'ready');
  return stream;
}
