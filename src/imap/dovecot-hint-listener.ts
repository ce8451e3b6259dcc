// For `mailpush check-imap --watch --hook-port <port>`: a stand-in for the gateway's
// /v1/hooks/dovecot on loopback, so an operator can see whether their Dovecot's push_notification
// plugin (contrib/dovecot/) notifies a delivery and how long before IDLE's EXISTS. Any path and
// any credentials are accepted: it only records what arrives, and answers 204 like the gateway.

import { createServer } from 'node:http';

export interface HeardHint {
  /** The notification's "user" and "imap-uid" (undefined when it was not a notification). */
  user?: string;
  uid?: number;
  /** The HTTP Basic user name it came with (never the password). */
  from?: string;
  /** When it arrived, ms since epoch. */
  at: number;
}

const MAX_BODY = 16 * 1024;

export async function listenForHints(port: number): Promise<{ heard: HeardHint[]; url: string; close(): Promise<void> }> {
  const heard: HeardHint[] = [];
  const server = createServer((request, response) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    request.on('end', () => {
      const auth = request.headers.authorization ?? '';
      const from = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':')[0] : undefined;
      let body: { user?: unknown; 'imap-uid'?: unknown } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        // recorded without user and UID: the report says it was not a notification
      }
      heard.push({
        at,
        ...(typeof body.user === 'string' ? { user: body.user } : {}),
        ...(typeof body['imap-uid'] === 'number' ? { uid: body['imap-uid'] } : {}),
        ...(from ? { from } : {}),
      });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    heard,
    url: `http://127.0.0.1:${bound}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
