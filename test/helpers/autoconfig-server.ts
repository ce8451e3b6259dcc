// A domain's autoconfig server (https://autoconfig.<domain>/mail/config-v1.1.xml) on loopback:
// HTTPS with a self-signed certificate for the given names (trusted by a spawned gateway through
// NODE_EXTRA_CA_CERTS), answering per Host header and recording every request it gets.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { LOOPBACK } from './ports.js';

const run = promisify(execFile);

/** A config file, or a body that never ends (one byte a second), or `bytes` of padding. */
export type AutoconfigAnswer = { xml: string } | { drip: true } | { oversized: number };

export interface AutoconfigServer {
  port: number;
  /** PEM of its certificate, for NODE_EXTRA_CA_CERTS. */
  caFile: string;
  /** Host names (without port) of the requests received, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** A minimal Thunderbird config naming one IMAP server (and a POP3 one discovery must ignore). */
export function configXml(imap: { hostname: string; port: number; socketType: string }): string {
  return `<?xml version="1.0"?>
<clientConfig version="1.1">
  <emailProvider id="example">
    <domain>%EMAILDOMAIN%</domain>
    <incomingServer type="pop3"><hostname>pop.wrong.test</hostname><port>995</port><socketType>SSL</socketType></incomingServer>
    <incomingServer type="imap">
      <hostname>${imap.hostname}</hostname><port>${imap.port}</port><socketType>${imap.socketType}</socketType>
      <username>%EMAILADDRESS%</username><authentication>password-cleartext</authentication>
    </incomingServer>
  </emailProvider>
</clientConfig>`;
}

export async function startAutoconfigServer(answers: Record<string, AutoconfigAnswer>): Promise<AutoconfigServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-autoconfig-'));
  const keyFile = path.join(dir, 'key.pem');
  const caFile = path.join(dir, 'cert.pem');
  const names = Object.keys(answers).map((host) => `DNS:${host}`).join(',');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=autoconfig test', '-addext', `subjectAltName=${names}`, '-keyout', keyFile, '-out', caFile]);
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer({ key: await readFile(keyFile), cert: await readFile(caFile) }, (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    requests.push(host);
    const answer = answers[host];
    if (!answer || req.url !== '/mail/config-v1.1.xml') {
      res.writeHead(404).end();
    } else if ('xml' in answer) {
      res.writeHead(200, { 'content-type': 'text/xml' }).end(answer.xml);
    } else if ('oversized' in answer) {
      // No Content-Length: the cap must hold while reading, not only on the header.
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.write(configXml({ hostname: `imap.${host.replace(/^autoconfig\./, '')}`, port: 993, socketType: 'SSL' }));
      res.end(`<!-- ${'x'.repeat(answer.oversized)} -->`);
    } else {
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.write('<?xml version="1.0"?>');
      const timer = setInterval(() => res.write(' '), 1000);
      timers.add(timer);
      res.on('close', () => clearInterval(timer));
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    caFile,
    requests,
    async close() {
      timers.forEach(clearInterval);
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
