// GET /v1/stream: the live WebSocket. A browser cannot set headers on a WebSocket, so besides
// `Authorization: Bearer` a client may authenticate with a first message {"type":"auth","token"}.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type {} from '@fastify/websocket'; // adds the { websocket: true } route option
import { Type } from 'typebox';
import type { Config } from '../../../config.js';
import type { AccountStore, EventLog, LiveFeed } from '../../../core/ports.js';
import { toAccountView } from '../../../core/types.js';
import type { GatewayMetrics } from '../../../observability/metrics.js';
import { isEventId } from '../../../protocol/event-ids.js';
import { CloseCode, HEARTBEAT_SECONDS, type AuthMessage, type PingMessage, type PongMessage, type ReadyMessage } from '../../../protocol/stream.js';
import { bearerToken, type Authenticator } from '../auth.js';
import { StreamQuery } from '../schemas.js';
import { StreamClient } from '../stream-client.js';

export interface StreamDeps {
  config: Config;
  eventLog: EventLog;
  liveFeed: LiveFeed;
  accounts: AccountStore;
  auth: Authenticator;
  metrics?: GatewayMetrics;
}

/** The client's values, from the query or the auth message, not yet checked. */
interface StreamOptions {
  token?: string;
  since?: unknown;
  heartbeat?: unknown;
}

/** Heartbeat seconds a client may ask for, like ActiveSync's: 10 s to 29 min. */
function heartbeatMs(requested: unknown, fallbackMs: number): number | undefined {
  if (requested === undefined || requested === '') return fallbackMs;
  const seconds = Number(requested);
  if (!Number.isInteger(seconds) || seconds < HEARTBEAT_SECONDS.min || seconds > HEARTBEAT_SECONDS.max) return undefined;
  return seconds * 1000;
}

const PING = JSON.stringify({ type: 'ping' } satisfies PingMessage);
const PONG = JSON.stringify({ type: 'pong' } satisfies PongMessage);

export function streamRoutes(deps: StreamDeps) {
  const clients = new Set<StreamClient>();
  // The live feed lost its connection for a moment: every client re-reads what it may have missed.
  deps.liveFeed.onReconnect(() => clients.forEach((client) => void client.resume()));

  async function open(socket: WebSocket, request: FastifyRequest, options: StreamOptions): Promise<void> {
    const fail = (reason: string, code: number = CloseCode.unauthorized) => socket.close(code, reason);
    const since = options.since as string | undefined;
    if (since !== undefined && (typeof since !== 'string' || !isEventId(since))) return fail('since is not an event id', CloseCode.badMessage);
    const pingMs = heartbeatMs(options.heartbeat, deps.config.web.wsPingMs);
    if (pingMs === undefined) return fail(`heartbeat must be ${HEARTBEAT_SECONDS.min} to ${HEARTBEAT_SECONDS.max} seconds`, CloseCode.badMessage);
    const principal = options.token ? await deps.auth.principal(options.token) : undefined;
    if (principal?.kind !== 'user') return fail('invalid token');
    if (socket.readyState !== socket.OPEN) return;

    const client = new StreamClient(principal.userId, socket, deps.eventLog);
    const unsubscribe = await deps.liveFeed.subscribe(principal.userId, (event) => {
      deps.metrics?.fanningOut(event);
      client.deliver(event);
    });
    // Closed while subscribing: its 'close' is past, and nothing but the subscription is held yet.
    if (socket.readyState !== socket.OPEN) return void (await unsubscribe());
    clients.add(client);
    let alive = true;
    const pinger = setInterval(() => {
      if (!alive) return socket.terminate(); // no pong since the last ping: the peer is gone
      alive = false;
      socket.ping();
    }, pingMs);
    socket.on('pong', () => (alive = true));
    // Browsers cannot see protocol pings, so a page checks its connection with {"type":"ping"} and
    // expects {"type":"pong"}; anything else a client sends after auth is ignored.
    socket.on('message', (data: Buffer) => {
      alive = true;
      if (data.length <= 64 && data.toString() === PING) client.sendRaw(PONG);
    });
    socket.once('close', () => {
      clearInterval(pinger);
      clients.delete(client);
      void unsubscribe();
    });
    const accounts = await deps.accounts.listForUser(principal.userId);
    client.sendRaw(JSON.stringify({ type: 'ready', accounts: accounts.map(toAccountView), heartbeat: pingMs / 1000 } satisfies ReadyMessage));
    await client.begin(since);
    request.log.debug({ userId: principal.userId }, 'stream opened');
  }

  return async function register(app: FastifyInstance): Promise<void> {
    // @fastify/websocket hides every WebSocket route from the OpenAPI document; this one is part of
    // the API, so it is shown again with its query.
    app.addHook('onRoute', (route) => {
      if (route.url === '/v1/stream' && route.method === 'GET' && route.schema) route.schema.hide = false;
    });
    // The query schema documents and coerces; `attachValidation` keeps a failed check from being
    // answered with an HTTP 400 before the upgrade: open() checks the same rules, for the query and
    // the auth message alike, and closes the socket with 4400 (see StreamQuery in schemas.ts).
    const schema = {
      querystring: StreamQuery,
      response: { 101: Type.Null({ description: 'Switching Protocols: the WebSocket (see the README for its messages and close codes)' }) },
    };
    app.get('/v1/stream', { websocket: true, schema, attachValidation: true }, (socket, request) => {
      const query = request.query as Record<string, unknown>;
      const onError = (error: unknown) => {
        request.log.warn({ err: (error as Error).message }, 'stream failed');
        socket.close(CloseCode.tryAgainLater, 'internal error; reconnect');
      };
      const headerToken = bearerToken(request.headers.authorization);
      if (headerToken !== undefined) {
        open(socket, request, { token: headerToken, since: query.since, heartbeat: query.heartbeat }).catch(onError);
        return;
      }
      // No header: the first message must authenticate, within the configured time.
      const timer = setTimeout(() => socket.close(CloseCode.unauthorized, 'authentication timed out'), deps.config.web.wsAuthTimeoutMs);
      socket.once('message', (data) => {
        clearTimeout(timer);
        let message: { [K in keyof AuthMessage]?: unknown };
        try {
          message = JSON.parse(data.toString()) as typeof message;
        } catch {
          return socket.close(CloseCode.badMessage, 'expected a JSON auth message');
        }
        if (message?.type !== 'auth' || typeof message.token !== 'string') {
          return socket.close(CloseCode.unauthorized, 'expected {"type":"auth","token":"…"}');
        }
        const since = typeof message.since === 'string' ? message.since : query.since;
        const heartbeat = message.heartbeat ?? query.heartbeat;
        open(socket, request, { token: message.token, since, heartbeat }).catch(onError);
      });
      socket.once('close', () => clearTimeout(timer));
    });
  };
}
