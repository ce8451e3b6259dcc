// Loopback port helpers shared by the server fixtures.
//
// Only 127.0.0.1 is used: the test machines have no other usable network, and
// binding to loopback keeps the fixtures invisible to anything off-host.
import net from 'node:net';

export const LOOPBACK = '127.0.0.1';

// Ports that must never be handed to a fixture even if they look free at the
// moment (a system Redis may be started on 6379 later, and we must not let a
// test server shadow it or a test client talk to it by accident).
const RESERVED = new Set([6379]);

// Ports handed out by this process. Asking the kernel for port 0 twice in a row
// can return the same number (the first socket is already closed), and a
// fixture that needs two ports (Dovecot: IMAP + LMTP) would then collide with
// itself. Remembering them for the lifetime of the process avoids that.
const handedOut = new Set<number>();

function askKernelForPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    // Never keep the test process alive because of this probe.
    server.unref();
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected listen address: ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago: listen on port 0,
 * read the port the kernel chose, close. There is an unavoidable window in
 * which another process could grab it; in practice the ephemeral range is
 * large enough that this does not happen on a test machine.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await askKernelForPort();
    if (RESERVED.has(port) || handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('freePort: could not find an unused loopback port');
}

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
