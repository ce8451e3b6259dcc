// A password rides on AUTHENTICATE PLAIN as a SASL-IR initial response (src/imap/lean-imapflow.ts).
// Dovecot takes it (the NOTIFY and registration tests log in that way); these are the servers that
// do not quite: one that offers SASL-IR and still asks with "+", one that refuses the password.
// Dovecot cannot be made to do either, so a scripted server plays the part over a real socket.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { LeanImapFlow } from '../../src/imap/lean-imapflow.js';

const servers: Server[] = [];
const sockets = new Set<Socket>();
after(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

const CREDENTIALS = Buffer.from('\0alice\0secret').toString('base64');

/**
 * An IMAP server offering SASL-IR and AUTH=PLAIN. `askAnyway`: it answers the initial response with
 * an empty "+" and takes the credentials on the next line. It accepts alice/secret only.
 */
async function scriptedServer(options: { askAnyway: boolean }): Promise<{ port: number; lines: string[] }> {
  const lines: string[] = [];
  const server = createServer((socket) => {
    sockets.add(socket.on('close', () => sockets.delete(socket)));
    socket.write('* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ID] ready\r\n');
    let pendingTag: string | undefined;
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n'); end >= 0; end = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        lines.push(line);
        const login = (tag: string, credentials: string | undefined) =>
          socket.write(credentials === CREDENTIALS ? `${tag} OK [CAPABILITY IMAP4rev1 ID] logged in\r\n` : `${tag} NO [AUTHENTICATIONFAILED] wrong password\r\n`);
        if (pendingTag) {
          login(pendingTag, line);
          pendingTag = undefined;
          continue;
        }
        const [tag = '*', command = '', ...rest] = line.split(' ');
        switch (command.toUpperCase()) {
          case 'AUTHENTICATE':
            if (options.askAnyway) {
              pendingTag = tag;
              socket.write('+ \r\n');
            } else login(tag, rest[1]);
            break;
          case 'NAMESPACE':
            socket.write(`* NAMESPACE (("" "/")) NIL NIL\r\n${tag} OK done\r\n`);
            break;
          case 'LOGOUT':
            socket.end(`* BYE bye\r\n${tag} OK bye\r\n`);
            break;
          default:
            socket.write(`${tag} OK done\r\n`);
        }
      }
    });
    socket.on('error', () => undefined);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, lines };
}

const client = (port: number, pass: string) =>
  new LeanImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user: 'alice', pass }, logger: false, disableCompression: true, socketTimeout: 10_000 });

test('a server that offers SASL-IR but still asks with "+" gets the credentials again and the login succeeds', async () => {
  const { port, lines } = await scriptedServer({ askAnyway: true });
  const imap = client(port, 'secret');
  await imap.connect();
  assert.equal(imap.usable, true);
  await imap.logout();
  const auth = lines.findIndex((line) => / AUTHENTICATE PLAIN /.test(line));
  assert.deepEqual(lines.slice(auth, auth + 2).map((line) => line.split(' ').slice(1).join(' ') || line), [`AUTHENTICATE PLAIN ${CREDENTIALS}`, CREDENTIALS]);
});

test('a password refused at AUTHENTICATE PLAIN with an initial response is an authentication failure, with the server\'s code', async () => {
  const { port, lines } = await scriptedServer({ askAnyway: false });
  const imap = client(port, 'wrong');
  imap.on('error', () => undefined);
  await assert.rejects(imap.connect(), (error: { authenticationFailed?: boolean; serverResponseCode?: string }) => {
    assert.deepEqual([error.authenticationFailed, error.serverResponseCode], [true, 'AUTHENTICATIONFAILED']);
    return true;
  });
  // The first command: no ID before the login (it goes once, after it).
  assert.match(lines[0]!, /^\S+ AUTHENTICATE PLAIN \S+$/);
});
