// Hostile clients of GET /v1/stream (fast-check): odd query parameters, credentials in the header or
// in a first message, frames a client may send (junk text, binary, invalid UTF-8, oversized,
// auth messages bent like the REST bodies), and sockets dropped at any point, including while the
// gateway is still setting up the live subscription.

import fc from 'fast-check';
import WebSocket from 'ws';
import { junkValue, PROTO_KEYS } from './openapi-fuzz.js';

export interface StreamCase {
  /** Query string, with its '?', as sent. */
  query: string;
  /** Authorization header, if any. */
  authorization?: string;
  /** Frames sent once the socket is open, in order. */
  frames: Array<{ text: string } | { bytes: number[]; binary: boolean }>;
  /** Wait for the gateway's answer, or drop the connection after `afterFrames` frames and `delayMs`. */
  end: { kind: 'await' } | { kind: 'drop'; afterFrames: number; delayMs: number };
}

export interface StreamOutcome {
  /** Set when the upgrade was answered with HTTP instead. */
  httpStatus?: number;
  httpBody?: string;
  ready: boolean;
  /** Whether {"type":"ping"} after ready got its pong (the socket still serves). */
  pong: boolean;
  /** Every message the gateway sent, as text. */
  received: string[];
  closeCode?: number;
}

export interface StreamFuzzContext {
  /** The fuzzed user's token: the only credential that may ever get `ready`. */
  token: string;
  /** Event ids that exist for the fuzzed user. */
  eventIds: string[];
}

const sinceValues = (ctx: StreamFuzzContext) => fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...ctx.eventIds) },
  fc.constantFrom('0-0', '0', '1-1', '99999999999999999999-0', '18446744073709551615-18446744073709551615', '18446744073709551616-0', '-1', '1-', '', ' 1-0', '1-0 ', '0x10-0'),
  fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 66n }), fc.bigInt({ min: 0n, max: 2n ** 66n })).map(([a, b]) => `${a}-${b}`),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.integer({ min: 100, max: 8_000 }).map((n) => '1'.repeat(n)),
);
const heartbeatValues = fc.oneof(
  fc.constantFrom('10', '1740', '9', '1741', '0', '-10', '10.5', '1e1', '1e3', '0x10', ' 10', '10 ', 'abc', '', '99999999999999999999', 'NaN', 'Infinity'),
  fc.integer({ min: -100, max: 3000 }).map(String),
);

function query(ctx: StreamFuzzContext): fc.Arbitrary<string> {
  return fc.tuple(
    fc.option(sinceValues(ctx), { nil: undefined, freq: 2 }),
    fc.option(heartbeatValues, { nil: undefined, freq: 2 }),
    fc.option(fc.constantFrom(...PROTO_KEYS.map((k) => `${k}=1`), '__proto__[polluted]=1', 'since=0-0&since=1-0', 'token=x'), { nil: undefined }),
  ).map(([since, heartbeat, extra]) => {
    const parts = [
      ...(since !== undefined ? [`since=${encodeURIComponent(since.replace(/[\ud800-\udfff]/g, '\ufffd'))}`] : []),
      ...(heartbeat !== undefined ? [`heartbeat=${encodeURIComponent(heartbeat)}`] : []),
      ...(extra ? [extra] : []),
    ];
    return parts.length ? `?${parts.join('&')}` : '';
  });
}

/** An auth message, valid or bent: each field dropped, retyped or swapped for junk. */
function authMessage(ctx: StreamFuzzContext): fc.Arbitrary<string> {
  const token = fc.oneof({ weight: 4, arbitrary: fc.constant(ctx.token) }, { weight: 2, arbitrary: junkValue }, { weight: 1, arbitrary: fc.constant(`${ctx.token} `) });
  return fc.record({
    type: fc.oneof({ weight: 5, arbitrary: fc.constant<unknown>('auth') }, { weight: 1, arbitrary: junkValue }),
    token,
    since: sinceValues(ctx),
    heartbeat: fc.oneof(heartbeatValues, junkValue, fc.integer({ min: 0, max: 2000 })),
    extra: junkValue,
    extraKey: fc.constantFrom(...PROTO_KEYS, 'x'),
  }, { requiredKeys: ['type', 'token'] }).map((message) => {
    const { extra, extraKey, ...fields } = message;
    const object = JSON.parse(JSON.stringify(fields)) as Record<string, unknown>;
    if (extraKey !== undefined) Object.defineProperty(object, extraKey, { value: extra, enumerable: true, writable: true, configurable: true });
    return JSON.stringify(object);
  });
}

const junkFrame: fc.Arbitrary<StreamCase['frames'][number]> = fc.oneof(
  junkValue.map((value) => ({ text: JSON.stringify(value) ?? 'undefined' })),
  fc.constantFrom('{', '', 'auth', '{"type":"ping"}', '{"type":"pong"}', '{"type":"auth"}', '{"type":"auth","token":null}', '\u0000').map((text) => ({ text })),
  fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }).map((bytes) => ({ bytes, binary: true })),
  // Text frames that are not UTF-8.
  fc.constantFrom([0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff], [0x7b, 0xfe]).map((bytes) => ({ bytes: [...bytes], binary: false })),
  fc.integer({ min: 16 * 1024 - 16, max: 40 * 1024 }).map((n) => ({ text: `{"type":"auth","token":"${'t'.repeat(n)}"}` })),
);

export function streamCases(ctx: StreamFuzzContext): fc.Arbitrary<StreamCase> {
  const headerAuth = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.constant(`Bearer ${ctx.token}`) },
    { weight: 1, arbitrary: fc.constantFrom('Bearer', 'Bearer x', `bearer ${ctx.token}x`, 'Basic eDp5', `Bearer ${'a'.repeat(700)}`) },
  );
  const frames = fc.array(fc.oneof({ weight: 3, arbitrary: authMessage(ctx).map((text) => ({ text })) }, { weight: 2, arbitrary: junkFrame }), { maxLength: 3 });
  const end = fc.oneof(
    { weight: 3, arbitrary: fc.constant<StreamCase['end']>({ kind: 'await' }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), afterFrames: fc.nat({ max: 3 }), delayMs: fc.constantFrom(0, 0, 1, 5, 20) }) },
  );
  return fc.record({ query: query(ctx), authorization: headerAuth, frames, end }, { requiredKeys: ['query', 'frames', 'end'] })
    // Waiting on a socket that never authenticates would only measure WS_AUTH_TIMEOUT_SECONDS.
    .map((c) => (c.end.kind === 'await' && c.authorization === undefined && c.frames.length === 0 ? { ...c, end: { kind: 'drop', afterFrames: 0, delayMs: 5 } } : c));
}

/** Whether the case carries the fuzzed user's credentials the way the protocol reads them. */
export function carriesToken(c: StreamCase, token: string): boolean {
  if (c.authorization !== undefined) return /^Bearer\s+(\S+)\s*$/i.exec(c.authorization)?.[1] === token;
  const first = c.frames[0];
  if (!first || !('text' in first)) return false;
  try {
    const message = JSON.parse(first.text) as { type?: unknown; token?: unknown };
    return message?.type === 'auth' && message.token === token;
  } catch {
    return false;
  }
}

/** Plays a case against the gateway and reports what it answered. */
export async function playStreamCase(base: string, c: StreamCase, timeoutMs = 10_000): Promise<StreamOutcome> {
  const socket = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/stream${c.query}`, {
    ...(c.authorization !== undefined ? { headers: { authorization: c.authorization } } : {}),
    maxPayload: 1024 * 1024,
  });
  const outcome: StreamOutcome = { ready: false, pong: false, received: [] };
  return new Promise<StreamOutcome>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`no answer within ${timeoutMs} ms: ${JSON.stringify(outcome)}`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      resolve(outcome);
    };
    socket.on('error', () => undefined);
    socket.on('unexpected-response', (_req, res) => {
      outcome.httpStatus = res.statusCode;
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        outcome.httpBody = text;
        socket.terminate();
        finish();
      });
    });
    socket.on('message', (data: Buffer) => {
      outcome.received.push(data.toString());
      const message = JSON.parse(data.toString()) as { type?: string };
      if (message.type === 'ready') {
        outcome.ready = true;
        socket.send(JSON.stringify({ type: 'ping' }));
      } else if (message.type === 'pong' && outcome.ready) {
        outcome.pong = true;
        socket.close(1000);
      }
    });
    socket.on('close', (code) => {
      outcome.closeCode = code;
      finish();
    });
    socket.on('open', () => {
      void (async () => {
        for (let i = 0; i < c.frames.length; i++) {
          if (c.end.kind === 'drop' && i === c.end.afterFrames) break;
          const frame = c.frames[i]!;
          socket.send('text' in frame ? frame.text : Buffer.from(frame.bytes), { binary: 'text' in frame ? false : frame.binary });
        }
        if (c.end.kind === 'drop') {
          if (c.end.delayMs) await new Promise((r) => setTimeout(r, c.end.kind === 'drop' ? c.end.delayMs : 0));
          socket.terminate();
        }
      })();
    });
  });
}
