// A loopback TCP proxy that can black-hole its connections: stop forwarding in both directions
// without a FIN or RST, like a NAT box that forgot the flow or a phone network that went away.
// With `tls`, it terminates TLS in front of a plaintext server, as a provider's load balancer
// does (and, unlike Dovecot 2.3, it resumes TLS sessions: Node's server keeps tickets).

import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { ServerCertificate } from './test-ca.js';

export interface TcpProxy {
  port: number;
  /** Connections currently open through the proxy. */
  open(): number;
  /** Existing connections go silent for good; new ones are forwarded normally. */
  blackHoleExisting(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1', options: { tls?: ServerCertificate } = {}): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  const sockets = new Set<Socket>();
  const forward = (client: Socket) => {
    const upstream = connect(targetPort, targetHost);
    sockets.add(client).add(upstream);
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  };
  const server: Server = options.tls
    ? createTlsServer({ cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) }, forward)
    : createServer(forward);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    open: () => pairs.size,
    blackHoleExisting() {
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        // Read and drop whatever arrives, so neither side sees back-pressure or a close.
        client.removeAllListeners('data');
        upstream.removeAllListeners('data');
        client.on('data', () => undefined);
        upstream.on('data', () => undefined);
      }
      pairs.clear();
    },
    async close() {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
