// A WebSocket client that only counts the text frames it receives: the load generator for the
// fan-out bench. The clients share the machine with the web process they measure, so every
// microsecond they spend is taken from it; a `ws` client spends most of its time building and
// emitting message objects the bench throws away. This one does the RFC 6455 handshake with
// node:http, then walks frame headers in the raw bytes, answers pings (the server drops clients
// that do not) and never decodes a payload.

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';

const OPCODE_TEXT = 0x1;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;

export interface CountingClient {
  /** Text frames received after the first one (the stream's `ready`). */
  readonly received: number;
  close(): void;
}

/** Connects and resolves once the server's first text frame (`ready`) arrived. */
export function connectCountingClient(url: string, token: string, onMessage: () => void): Promise<CountingClient> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        authorization: `Bearer ${token}`,
      },
    });
    request.once('error', reject);
    request.once('response', (response) => reject(new Error(`no upgrade: HTTP ${response.statusCode}`)));
    request.once('upgrade', (_response, socket: Socket, head: Buffer) => {
      socket.setNoDelay(true);
      let pending = head.length ? head : Buffer.alloc(0);
      let ready = false;
      const client = {
        received: 0,
        close: () => socket.destroy(),
      };
      const onFrame = (opcode: number, payload: Buffer) => {
        if (opcode === OPCODE_TEXT) {
          if (!ready) {
            ready = true;
            resolve(client);
          } else {
            client.received++;
            onMessage();
          }
        } else if (opcode === OPCODE_PING) {
          socket.write(maskedFrame(OPCODE_PONG, payload));
        } else if (opcode === OPCODE_CLOSE) {
          if (!ready) reject(new Error(`closed with ${payload.length >= 2 ? payload.readUInt16BE(0) : 'no code'} before ready`));
          socket.destroy();
        }
      };
      const consume = (chunk: Buffer) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        let offset = 0;
        for (;;) {
          if (pending.length - offset < 2) break;
          const opcode = pending[offset]! & 0x0f;
          let length = pending[offset + 1]! & 0x7f;
          let header = 2;
          if (length === 126) {
            if (pending.length - offset < 4) break;
            length = pending.readUInt16BE(offset + 2);
            header = 4;
          } else if (length === 127) {
            if (pending.length - offset < 10) break;
            length = Number(pending.readBigUInt64BE(offset + 2));
            header = 10;
          }
          if (pending.length - offset < header + length) break;
          // Only control frames need their payload; for text the header is all the count needs.
          onFrame(opcode, opcode === OPCODE_TEXT ? EMPTY : pending.subarray(offset + header, offset + header + length));
          offset += header + length;
        }
        pending = offset === pending.length ? EMPTY : pending.subarray(offset);
      };
      socket.on('data', consume);
      // Before `ready` an error fails the connect; after it, the socket just ends (and stops counting).
      socket.on('error', (error) => {
        if (!ready) reject(error);
      });
      socket.once('close', () => {
        if (!ready) reject(new Error('closed before ready'));
      });
      if (pending.length) {
        const first = pending;
        pending = EMPTY;
        consume(first);
      }
    });
    request.end();
  });
}

const EMPTY = Buffer.alloc(0);

/** Client frames must be masked (RFC 6455 §5.3); control payloads are at most 125 bytes. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | payload.length;
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i % 4]!;
  return frame;
}
