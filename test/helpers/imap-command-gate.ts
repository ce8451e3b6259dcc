// A loopback proxy in front of an IMAP server that can hold one command of a client on its way to
// the server: the client has sent it and waits for the answer, the server has not seen it yet. A
// test changes the mailbox (doveadm) in that moment, then lets the command go. That is how a change
// is made exactly between two commands of the client, a moment a test cannot hit by timing.

import { createServer, connect, type Server, type Socket } from 'node:net';

export interface ImapCommandGate {
  port: number;
  /**
   * Holds the first client line matching the last pattern that comes after lines matching the
   * ones before it, in order (on any connection, from now on). Resolves with `release`, which sends
   * it and whatever the client wrote after it; rejects when nothing matched within `timeoutMs`.
   */
  hold(patterns: RegExp[], timeoutMs?: number): Promise<() => void>;
  /** Every line clients sent so far, in order, with the number of the connection it came on (from 1). */
  sent(): ReadonlyArray<{ connection: number; line: string }>;
  close(): Promise<void>;
}

interface Waiting {
  patterns: RegExp[];
  matched: number;
  held(release: () => void): void;
}

export async function startImapCommandGate(targetPort: number, targetHost = '127.0.0.1'): Promise<ImapCommandGate> {
  const sockets = new Set<Socket>();
  let waiting: Waiting | undefined;
  const sent: Array<{ connection: number; line: string }> = [];
  let connections = 0;

  const forward = (client: Socket) => {
    const connection = ++connections;
    const upstream = connect(targetPort, targetHost);
    sockets.add(client).add(upstream);
    upstream.pipe(client);
    // Whole lines only, so a command is judged as one: a partial line waits for its end.
    let partial = Buffer.alloc(0);
    let heldBack: Buffer[] | undefined;
    client.on('data', (chunk: Buffer) => {
      const data = Buffer.concat([partial, chunk]);
      const end = data.lastIndexOf(0x0a) + 1;
      partial = data.subarray(end);
      for (let at = 0; at < end; ) {
        const next = data.indexOf(0x0a, at) + 1;
        sent.push({ connection, line: data.subarray(at, next).toString('latin1').trimEnd() });
        at = next;
      }
      let from = 0;
      for (let at = 0; at < end && !heldBack && waiting; ) {
        const next = data.indexOf(0x0a, at) + 1;
        const line = data.subarray(at, next).toString('latin1');
        const gate = waiting;
        if (gate.patterns[gate.matched]!.test(line) && ++gate.matched === gate.patterns.length) {
          upstream.write(data.subarray(from, at));
          from = at;
          heldBack = [];
          waiting = undefined;
          gate.held(() => {
            const rest = Buffer.concat(heldBack ?? []);
            heldBack = undefined;
            upstream.write(rest);
          });
        }
        at = next;
      }
      if (heldBack) heldBack.push(data.subarray(from, end));
      else upstream.write(data.subarray(from, end));
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  };
  const server: Server = createServer(forward);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    hold(patterns, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting = undefined;
          reject(new Error(`no client command matched ${patterns.join(' then ')} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting = {
          patterns,
          matched: 0,
          held: (release) => {
            clearTimeout(timer);
            resolve(release);
          },
        };
      });
    },
    sent: () => sent,
    async close() {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
