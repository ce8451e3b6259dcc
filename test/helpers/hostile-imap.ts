// A hostile IMAP server: a TCP server in the test process that speaks just enough IMAP to be
// registered and watched (greeting, CAPABILITY, LOGIN, SELECT, IDLE, STATUS, LOGOUT), then
// misbehaves the way a server someone registers on purpose could. Dovecot cannot be made to do
// any of this, so this double plays the server's part over a real socket.
//
// What a connection does is chosen by the login name's first word (`<behaviour>@anything`), so
// one server can hold several hostile accounts at once. Behaviours once IDLE has started:
//   huge-literal    `* 1 FETCH (UID 1 BODY[] {900000000}` and then the 900 MB, as fast as read
//   endless-line    `* OK ` and then bytes without a line end, for ever
//   response-flood  one FETCH response of 1 MiB literals, one after another, for ever
//   exists-flood    `* 200000 EXISTS`; the UID SEARCH that follows gets an endless list of
//                   UIDs, and a UID FETCH the response flood
// and, before IDLE, select-drip: the SELECT answer comes one byte every 200 ms, never ending;
// and at login: login-literal (the LOGIN answer announces a 900 MB literal), login-mib (it carries a
// whole 1 MiB literal, then logs in) and login-drip (the LOGIN answer comes one byte every 200 ms,
// never ending). Any other name behaves.
// With `greeting: 'drip'` the server greets one byte every 200 ms, never finishing the line.

import { createServer, type Server, type Socket } from 'node:net';
import { LOOPBACK } from './ports.js';

export type HostileBehaviour = 'huge-literal' | 'endless-line' | 'response-flood' | 'exists-flood' | 'select-drip' | 'login-literal' | 'login-mib' | 'login-drip';

export interface HostileImapOptions {
  greeting?: 'prompt' | 'drip';
}

export interface HostileImap {
  readonly port: number;
  /** Connections made so far, by login name ('' before LOGIN). */
  connections(user?: string): number;
  /** Connections still open, by login name when given. */
  open(user?: string): number;
  /** Bytes of misbehaviour written to connections of `user` (what the gateway had to read or refuse). */
  hostileBytes(user: string): number;
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;
const FILLER = Buffer.alloc(CHUNK, 'A');
const HUGE_LITERAL = 900_000_000;
const DRIP_MS = 200;

interface Connection {
  socket: Socket;
  user: string;
  idleTag?: string;
}

function behaviourOf(user: string): HostileBehaviour | undefined {
  const word = user.split('@')[0] ?? '';
  return (['huge-literal', 'endless-line', 'response-flood', 'exists-flood', 'select-drip', 'login-literal', 'login-mib', 'login-drip'] as const).find((b) => word === b);
}

/** Resolves once `socket` can take more, or is gone. */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

export async function startHostileImap(options: HostileImapOptions = {}): Promise<HostileImap> {
  const all = new Set<Connection>();
  const made = new Map<string, number>();
  const bytes = new Map<string, number>();
  const count = (map: Map<string, number>, key: string, by: number) => map.set(key, (map.get(key) ?? 0) + by);

  /** Writes `next()` as fast as the gateway reads, until it returns undefined or the socket closes. */
  async function pour(connection: Connection, next: () => Buffer | undefined): Promise<void> {
    const { socket } = connection;
    while (!socket.destroyed) {
      const chunk = next();
      if (!chunk) return;
      count(bytes, connection.user, chunk.length);
      if (!socket.write(chunk)) await drained(socket);
    }
  }

  function drip(connection: Connection, text: string): void {
    const { socket } = connection;
    let sent = 0;
    const timer = setInterval(() => {
      if (socket.destroyed) return clearInterval(timer);
      // The text, then filler: never a line end.
      socket.write(sent < text.length ? text[sent]! : 'x');
      sent++;
      count(bytes, connection.user, 1);
    }, DRIP_MS);
    socket.once('close', () => clearInterval(timer));
  }

  function hugeLiteral(connection: Connection, prefix: string): void {
    let left = HUGE_LITERAL;
    connection.socket.write(`${prefix} {${HUGE_LITERAL}}\r\n`);
    void pour(connection, () => {
      if (left <= 0) return undefined;
      const chunk = left >= CHUNK ? FILLER : FILLER.subarray(0, left);
      left -= chunk.length;
      return chunk;
    });
  }

  function responseFlood(connection: Connection): void {
    const literal = 16; // chunks: 1 MiB each
    let part = 0;
    let inLiteral = 0;
    connection.socket.write('* 1 FETCH (UID 1');
    void pour(connection, () => {
      if (inLiteral === 0) {
        inLiteral = literal;
        return Buffer.from(` BODY[${++part}] {${literal * CHUNK}}\r\n`);
      }
      inLiteral--;
      return FILLER;
    });
  }

  function endlessUids(connection: Connection): void {
    let uid = 1;
    connection.socket.write('* SEARCH');
    void pour(connection, () => {
      let text = '';
      while (text.length < CHUNK) text += ` ${uid++}`;
      return Buffer.from(text);
    });
  }

  function misbehaveWhileIdle(connection: Connection): void {
    switch (behaviourOf(connection.user)) {
      case 'huge-literal':
        return hugeLiteral(connection, '* 1 FETCH (UID 1 BODY[]');
      case 'endless-line':
        connection.socket.write('* OK ');
        void pour(connection, () => FILLER);
        return;
      case 'response-flood':
        return responseFlood(connection);
      case 'exists-flood':
        connection.socket.write('* 200000 EXISTS\r\n* 200000 RECENT\r\n');
        return;
      default:
        return;
    }
  }

  function answer(connection: Connection, tag: string, command: string, args: string): void {
    const { socket } = connection;
    const write = (text: string) => socket.write(text);
    switch (command) {
      case 'CAPABILITY':
        return void write(`* CAPABILITY IMAP4rev1 IDLE ESEARCH\r\n${tag} OK CAPABILITY done\r\n`);
      case 'LOGIN': {
        const user = /^"?([^"\s]*)"?/.exec(args)?.[1] ?? '';
        connection.user = user;
        count(made, user, 1);
        count(made, '', -1);
        const behaviour = behaviourOf(user);
        if (behaviour === 'login-literal') return hugeLiteral(connection, '* OK [ALERT]');
        if (behaviour === 'login-mib') {
          // A whole, well-formed 1 MiB literal, then a successful login: fine for a worker's
          // limits, far beyond what a login needs.
          write(`* OK [ALERT] {${16 * CHUNK}}\r\n`);
          for (let i = 0; i < 16; i++) write(FILLER.toString('latin1'));
          count(bytes, user, 16 * CHUNK);
          return void write(`\r\n${tag} OK [CAPABILITY IMAP4rev1 IDLE ESEARCH] logged in\r\n`);
        }
        if (behaviour === 'login-drip') return drip(connection, '* OK [ALERT] checking your password, please wait');
        return void write(`${tag} OK [CAPABILITY IMAP4rev1 IDLE ESEARCH] logged in\r\n`);
      }
      case 'SELECT':
      case 'EXAMINE':
        if (behaviourOf(connection.user) === 'select-drip') return drip(connection, '* 0 EXISTS');
        return void write(
          '* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)\r\n* 0 EXISTS\r\n* 0 RECENT\r\n' +
            `* OK [UIDVALIDITY 1] UIDs valid\r\n* OK [UIDNEXT 1] next\r\n${tag} OK [READ-WRITE] selected\r\n`,
        );
      case 'STATUS':
        return void write(`* STATUS INBOX (UNSEEN 0 UIDNEXT 1 MESSAGES 0)\r\n${tag} OK STATUS done\r\n`);
      case 'IDLE':
        connection.idleTag = tag;
        write('+ idling\r\n');
        return misbehaveWhileIdle(connection);
      case 'UID': {
        const sub = args.split(' ')[0]?.toUpperCase();
        if (behaviourOf(connection.user) === 'exists-flood' && sub === 'SEARCH') return endlessUids(connection);
        if (behaviourOf(connection.user) === 'exists-flood' && sub === 'FETCH') return responseFlood(connection);
        return void write(`${tag} OK UID done\r\n`);
      }
      case 'LOGOUT':
        write(`* BYE bye\r\n${tag} OK LOGOUT done\r\n`);
        socket.end();
        return;
      default:
        // ID, NAMESPACE, ENABLE, LIST, NOOP, …: nothing to say.
        return void write(`${tag} OK done\r\n`);
    }
  }

  function onLine(connection: Connection, line: string): void {
    if (line.toUpperCase() === 'DONE' && connection.idleTag) {
      connection.socket.write(`${connection.idleTag} OK IDLE done\r\n`);
      connection.idleTag = undefined;
      return;
    }
    const match = /^(\S+) (\S+) ?(.*)$/.exec(line);
    if (match) answer(connection, match[1]!, match[2]!.toUpperCase(), match[3] ?? '');
  }

  const server: Server = createServer((socket) => {
    const connection: Connection = { socket, user: '' };
    all.add(connection);
    count(made, '', 1);
    socket.on('error', () => undefined);
    socket.on('close', () => all.delete(connection));
    if (options.greeting === 'drip') drip(connection, '* OK [CAPABILITY IMAP4rev1 IDLE] hostile ready');
    else socket.write('* OK [CAPABILITY IMAP4rev1 IDLE ESEARCH] hostile ready\r\n');
    let pending = '';
    let continued = '';
    // Client commands are short lines; a literal (`{n}`) is taken as the rest of its line.
    socket.on('data', (data: Buffer) => {
      pending += data.toString('latin1');
      let end: number;
      while ((end = pending.indexOf('\r\n')) >= 0) {
        const line = pending.slice(0, end);
        const literal = /\{(\d+)\+?\}$/.exec(line);
        if (literal) {
          const size = Number(literal[1]);
          if (!line.endsWith('+}') && continued !== line) socket.write('+ go ahead\r\n');
          continued = line;
          if (pending.length < end + 2 + size) break;
          pending = line.slice(0, literal.index) + JSON.stringify(pending.slice(end + 2, end + 2 + size)) + pending.slice(end + 2 + size);
          continue;
        }
        pending = pending.slice(end + 2);
        onLine(connection, line);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('hostile IMAP server has no port');

  const matches = (c: Connection, user: string | undefined) => user === undefined || c.user === user;
  return {
    port: address.port,
    connections: (user) => (user === undefined ? [...made.values()].reduce((a, b) => a + b, 0) : made.get(user) ?? 0),
    open: (user) => [...all].filter((c) => matches(c, user)).length,
    hostileBytes: (user) => bytes.get(user) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of all) c.socket.destroy();
        server.close(() => resolve());
      }),
  };
}
