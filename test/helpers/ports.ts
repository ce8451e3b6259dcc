// Loopback port helpers shared by the server fixtures.
//
// Only 127.0.0.1 is used: the test machines have no other usable network, and
// binding to loopback keeps the fixtures invisible to anything off-host.
import { readFileSync } from 'node:fs';
import net from 'node:net';

export const LOOPBACK = '127.0.0.1';

// Ports that must never be handed to a fixture even if they look free at the
// moment (a system Redis may be started on 6379 later, and we must not let a
// test server shadow it or a test client talk to it by accident).
const RESERVED = new Set([6379]);

// Ports handed out by this process, never handed out twice: a fixture that needs
// several ports (Dovecot: IMAP + LMTP + IMAPS) must not collide with itself, and
// a port given to a stopped server stays its own for a restart.
const handedOut = new Set<number>();

/** Lowest port handed out: below it are well-known and registered services. */
const LOWEST = 10_000;

/**
 * The kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`): the
 * ports it gives to outgoing connections and to listen(0). A server that is told
 * a port from this range can find it taken by any connection the suite opened in
 * between; ports outside it are only ever taken by someone binding them on purpose.
 */
export function ephemeralRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high && low <= high) return { low, high };
  } catch {
    // not Linux: assume the IANA range
  }
  return { low: 49152, high: 65535 };
}

/** Ports a fixture may be given: 10000..(low-1) and (high+1)..65535, without the reserved ones. */
function candidateRanges(): Array<[number, number]> {
  const { low, high } = ephemeralRange();
  const ranges: Array<[number, number]> = [];
  if (low - 1 >= LOWEST) ranges.push([LOWEST, low - 1]);
  if (high < 65535) ranges.push([Math.max(high + 1, LOWEST), 65535]);
  if (ranges.length === 0) throw new Error(`freePort: the ephemeral range ${low}-${high} leaves no port above ${LOWEST}`);
  return ranges;
}

function randomCandidate(ranges: Array<[number, number]>): number {
  const sizes = ranges.map(([from, to]) => to - from + 1);
  let pick = Math.floor(Math.random() * sizes.reduce((a, b) => a + b, 0));
  for (const [i, [from]] of ranges.entries()) {
    if (pick < sizes[i]!) return from + pick;
    pick -= sizes[i]!;
  }
  throw new Error('unreachable');
}

/** True when a listening socket can be bound to 127.0.0.1:port right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref(); // never keep the test process alive because of this probe
    server.once('error', () => resolve(false));
    server.listen({ host: LOOPBACK, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Returns a TCP port on 127.0.0.1 for a server that must be told its port
 * (Dovecot, redis-server, a spawned mailpush): outside the ephemeral range, never
 * 6379, never one handed out before, and free when probed. Another process can
 * still bind it before the server does; the fixtures retry on a new port when
 * the server reports "Address already in use" (see isAddressInUse).
 */
export async function freePort(): Promise<number> {
  const next = nextPorts.shift();
  if (next !== undefined) return next;
  const ranges = candidateRanges();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = randomCandidate(ranges);
    if (RESERVED.has(port) || handedOut.has(port)) continue;
    handedOut.add(port); // even if taken now: someone else is using it
    if (await canListen(port)) return port;
  }
  throw new Error('freePort: could not find an unused loopback port outside the ephemeral range');
}

const nextPorts: number[] = [];

/**
 * Makes the next freePort() return `port` without probing it: for the harness test that plays
 * "someone took the port between the probe and the server's bind".
 */
export function handOutNext(port: number): void {
  nextPorts.push(port);
}

/** Whether a server's output says its listen() failed because the port was taken. */
export function isAddressInUse(output: string): boolean {
  return /Address already in use|EADDRINUSE|port \d+ is in use/.test(output);
}

/** How many times a fixture starts again on new ports after "Address already in use". */
export const BIND_ATTEMPTS = 5;

/** True when something accepts TCP connections on host:port right now. */
export function isPortOpen(port: number, host = LOOPBACK, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Connects to host:port and resolves with the first line the server sends
 * (without CRLF), e.g. an IMAP "* OK ..." or LMTP "220 ..." greeting.
 * Rejects if the connection fails, closes early or stays silent too long.
 */
export function readGreeting(port: number, host = LOOPBACK, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buffered = '';
    let settled = false;
    const finish = (err: Error | null, line?: string): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(line ?? '');
    };
    socket.setEncoding('latin1');
    socket.setTimeout(timeoutMs, () => finish(new Error(`no greeting from ${host}:${port} within ${timeoutMs} ms`)));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const eol = buffered.indexOf('\n');
      if (eol >= 0) finish(null, buffered.slice(0, eol).replace(/\r$/, ''));
    });
    socket.once('error', (err) => finish(err));
    socket.once('close', () => finish(new Error(`${host}:${port} closed the connection before greeting`)));
  });
}
