// One error shape for every failure: {"error": {"code", "message"}}, with stable codes clients can
// switch on. A 5xx never shows its message (it could carry internals); the log keeps it.

import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { errorBody, type ErrorCode, type ErrorStatus } from '../../protocol/errors.js';

/** `code` is an ErrorCode (src/protocol/errors.ts); a client treats one it does not know as a plain failure. */
export const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
}, { $id: 'ErrorBody', title: 'ErrorBody' });
/** Routes point at the one shared schema, so OpenAPI lists it once under components. */
export const ErrorBodyRef = Type.Ref('ErrorBody');

/** An answer other than 2xx. The status must be the one the protocol gives the code. */
export class ApiError<C extends ErrorCode = ErrorCode> extends Error {
  /** `retryAfterSeconds` becomes a Retry-After header (429, 503). */
  constructor(readonly statusCode: ErrorStatus<C>, readonly code: C, message: string, readonly retryAfterSeconds?: number) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (what = 'resource'): ApiError => new ApiError(404, 'not_found', `${what} not found`);
export const unauthorized = (message = 'a valid bearer token is required'): ApiError => new ApiError(401, 'unauthorized', message);

export function installErrorHandling(app: FastifyInstance): void {
  app.addSchema(ErrorBody);
  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) {
      if (error.retryAfterSeconds !== undefined) reply.header('retry-after', error.retryAfterSeconds);
      return reply.code(error.statusCode).send(errorBody(error.code, error.message));
    }
    const status = error.statusCode ?? 500;
    if (error.validation) {
      return reply.code(400).send(errorBody('invalid_request', error.message));
    }
    if (status === 429) {
      return reply.code(429).send(errorBody('rate_limited', 'too many requests; try again later'));
    }
    if (status >= 400 && status < 500) {
      // Fastify's own client errors: bad JSON, wrong content type, body too large, ...
      return reply.code(status).send(errorBody(clientErrorCode(status), error.message));
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(status >= 500 && status < 600 ? status : 500).send(
      errorBody(status === 503 ? 'unavailable' : 'internal_error', 'internal error; it has been logged'),
    );
  });
  // A plugin may answer an error without a body (@fastify/websocket answers a plain GET on a
  // WebSocket route with a bare 404): the client is owed the one shape all the same.
  app.addHook('onSend', async (request, reply, payload) => {
    const status = reply.statusCode;
    if (status < 400 || request.method === 'HEAD' || (payload !== undefined && payload !== null && payload !== '')) return payload;
    reply.type('application/json; charset=utf-8');
    const body = status >= 500
      ? errorBody(status === 503 ? 'unavailable' : 'internal_error', 'internal error; it has been logged')
      : errorBody(clientErrorCode(status), `${request.method} ${request.url.split('?')[0]}: ${STATUS_CODES[status] ?? 'refused'}`);
    return JSON.stringify(body);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`));
  });
}

/** The code of a 4xx that no route chose itself. */
function clientErrorCode(status: number): ErrorCode {
  if (status === 404) return 'not_found';
  return status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_request';
}

/**
 * Node refuses some requests before Fastify sees them (a request line and headers over 16 KiB: 431;
 * bytes that are not HTTP: 400; too slow: 408), and Fastify's default answer for those is a JSON of
 * its own shape. This is Fastify's, with ours (Fastify's `clientErrorHandler` option).
 */
export function clientErrorHandler(error: ConnectionError, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] = error.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'the request line and headers are too large']
    : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'the request took too long to arrive'] : [400, 'the request is not valid HTTP'];
  // The answer to a HEAD has no body (a client would read ours as the next response).
  // (Fastify types rawPacket as a serialised Buffer; Node passes the Buffer.)
  const raw: unknown = error.rawPacket;
  const isHead = Buffer.isBuffer(raw) && raw.subarray(0, 5).toString('latin1') === 'HEAD ';
  writeRawAnswer(socket, status, isHead ? '' : JSON.stringify(errorBody('invalid_request', message)));
}

/**
 * An upgrade that ws refuses (to any route: no or a bad Sec-WebSocket-Key, another version or
 * Upgrade, not a GET) is answered by ws in plain text unless a 'wsClientError' listener answers it.
 */
export function answerRefusedUpgrades(server: { on(event: 'wsClientError', listener: (error: Error, socket: Duplex, request: IncomingMessage) => void): unknown }): void {
  server.on('wsClientError', (error, socket, request) => {
    const status = request.method === 'GET' ? 400 : 405;
    const body = errorBody(status === 400 ? 'invalid_request' : 'method_not_allowed', `not a WebSocket upgrade this gateway accepts: ${error.message}`);
    writeRawAnswer(socket, status, request.method === 'HEAD' ? '' : JSON.stringify(body));
  });
}

/** An answer written straight to a connection Fastify does not (or no longer) handle; then it ends. */
function writeRawAnswer(socket: Duplex, status: number, body: string): void {
  if (!socket.writable) return void socket.destroy();
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * Errors Fastify's router answers before any route or hook (a path that does not decode,
 * `/v1/accounts/%`; a path parameter over maxParamLength: 414), by default in a shape of its own
 * (Fastify's `frameworkErrors` option).
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode ?? 400;
  // An upgrade request's connection is not Node's to manage: @fastify/websocket ends it after a
  // route answers, but this one never reached a route. Left open, a client still sending a body
  // hangs it (and the gateway's shutdown) for ever.
  if (request.raw.headers.upgrade !== undefined) {
    void reply.header('connection', 'close');
    reply.raw.once('finish', () => request.raw.socket.destroy());
  }
  if (status >= 500) {
    reply.log.error({ err: error }, 'request failed');
    void reply.code(500).send(errorBody('internal_error', 'internal error; it has been logged'));
    return;
  }
  void reply.code(status).send(errorBody(clientErrorCode(status), error.message));
}
