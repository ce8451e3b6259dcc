// A real, private Dovecot 2.3 instance per test file.
//
// Everything the instance touches lives in one temp dir: config, passwd-file,
// log, base_dir (sockets, pid file), state_dir and the maildirs. The master runs
// in the foreground (`dovecot -F`) as our child, listening only on two free
// loopback ports (IMAP without TLS, LMTP), so it can run next to a system
// Dovecot and is stopped with the test process (see daemon.ts).
//
// Needs root: the master binds, setuid()s to the mail user for mail access and
// chroots its login processes, like a production install.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnDaemon, type Daemon } from './daemon.js';
import { renderConfig, renderOAuth2Settings, type DovecotOptions, type Paths } from './dovecot-config.js';
import { deliverLmtp } from './lmtp.js';
import { BIND_ATTEMPTS, freePort, isAddressInUse, isPortOpen, LOOPBACK, readGreeting } from './ports.js';
import { sleep, waitFor } from './wait.js';

const execFileAsync = promisify(execFile);

export const TEST_DOMAIN = 'example.test';
export type { DovecotOptions } from './dovecot-config.js';

export interface DovecotUser {
  /** IMAP login name (also the maildir name). */
  user: string;
  pass: string;
  /** `<user>@example.test`, for LMTP RCPT TO and headers. */
  email: string;
}

export interface Dovecot {
  readonly host: string;
  readonly imapPort: number;
  readonly lmtpPort: number;
  /** IMAP over TLS, when started with `tls: true` (0 otherwise). */
  readonly imapsPort: number;
  /** The instance's temp dir. */
  readonly dir: string;
  readonly configPath: string;
  /**
   * Adds a passwd-file user; usable for IMAP and LMTP as soon as this resolves. Without a name
   * or password it hands out a user made earlier by reserveUsers(), if one is left.
   */
  addUser(name?: string, pass?: string): Promise<DovecotUser>;
  /** Adds many passwd-file users with one write of the file (addUser() waits a second per call). */
  addUsers(names: string[], pass?: string): Promise<DovecotUser[]>;
  /**
   * Adds `count` fresh users with one write, for later addUser() calls without arguments: a
   * file's tests then pay Dovecot's one-second passwd-file resolution once, in `before`, instead
   * of once per user. Each is handed out once; none is used by anything else before that.
   */
  reserveUsers(count: number): Promise<void>;
  /** Changes a user's password; the old one is rejected as soon as this resolves. */
  setPassword(user: string, pass: string): Promise<void>;
  /** Removes a user from the passwd-file (its maildir stays). */
  removeUser(user: string): Promise<void>;
  /** Delivers a raw message through LMTP (like an MTA would). */
  deliver(to: string | string[], raw: string | Buffer, options?: { from?: string }): Promise<void>;
  /** `doveadm mailbox update --uid-validity`: simulates a server-side mailbox reset. */
  setUidValidity(user: string, mailbox: string, value: number): Promise<void>;
  /** Runs `doveadm -c <conf> ...args` and returns stdout; it may take `timeoutMs` (15 s). */
  doveadm(args: string[], options?: { timeoutMs?: number }): Promise<string>;
  /** Stops the whole instance (master and all its processes); resolves when IMAP is closed. */
  stop(): Promise<void>;
  /** Starts it again with the same config, ports and data. No-op while running. */
  start(): Promise<void>;
  /**
   * With `pushNotification`: points the OX driver at `url` (e.g. with a wrong password, to play a
   * misconfigured server), or removes the driver (undefined), and reloads; deliveries that start
   * after this resolve use it (an LMTP process shutting down may still answer one with a 421).
   */
  setPushNotificationUrl(url: string | undefined): Promise<void>;
  /** `doveadm mailbox metadata get` of a user's server METADATA entry; undefined when unset. */
  serverMetadata(user: string, key: string): Promise<string | undefined>;
  /** Contents of the Dovecot log (log_path). */
  readLog(): Promise<string>;
  /** The last lines of the master's output and of the log, for a failure message. */
  logTail(): Promise<string>;
  /** stop() and delete the temp dir. */
  cleanup(): Promise<void>;
}

async function lookupUser(name: string): Promise<{ uid: number; gid: number }> {
  const { stdout } = await execFileAsync('getent', ['passwd', name]);
  const [, , uid, gid] = stdout.trim().split(':');
  if (uid === undefined || gid === undefined) throw new Error(`cannot resolve system user ${name}`);
  return { uid: Number(uid), gid: Number(gid) };
}

const USER_NAME = /^[a-z0-9][a-z0-9._-]*$/;

function localPart(user: string): string {
  // Accept "alice" and "alice@example.test" alike (auth_username_format = %Ln).
  return (user.split('@')[0] ?? '').toLowerCase();
}

function checkPassword(pass: string): void {
  // passwd-file is colon separated, one user per line.
  if (pass === '' || /[:\r\n]/.test(pass)) throw new Error(`unsupported test password ${JSON.stringify(pass)}`);
}

export async function startDovecot(options: DovecotOptions = {}): Promise<Dovecot> {
  if (process.getuid?.() !== 0) throw new Error('startDovecot needs root (Dovecot setuid()s to the mail user)');

  // Under /tmp on purpose (not $TMPDIR): every path component must be
  // traversable by the unprivileged dovecot/dovenull/mail users, and unix
  // socket paths in base_dir must stay under the 108-byte sun_path limit.
  // MAILPUSH_DOVECOT_ROOT names another such directory: /dev/shm keeps the
  // server's mail in memory, so a benchmark measures no disk of the server's.
  const dir = await mkdtemp(path.join(process.env.MAILPUSH_DOVECOT_ROOT ?? '/tmp', 'mailpush-dovecot-'));
  await chmod(dir, 0o755);
  const p: Paths = {
    dir,
    config: path.join(dir, 'dovecot.conf'),
    users: path.join(dir, 'users'),
    log: path.join(dir, 'dovecot.log'),
    masterOutput: path.join(dir, 'master-output.log'),
    baseDir: path.join(dir, 'run'),
    stateDir: path.join(dir, 'state'),
    mail: path.join(dir, 'mail'),
    home: path.join(dir, 'home'),
  };
  const mailUser = await lookupUser('mail');
  await mkdir(p.baseDir, { mode: 0o755 });
  await mkdir(p.stateDir, { mode: 0o755 });
  for (const owned of [p.mail, p.home]) {
    // Delivery and IMAP processes run as "mail" and create <user>/ in here.
    await mkdir(owned, { mode: 0o755 });
    await chown(owned, mailUser.uid, mailUser.gid);
  }

  // Chosen again if Dovecot finds one taken (see the first start below); kept for restarts.
  let imapPort = await freePort();
  let lmtpPort = await freePort();
  let imapsPort = options.tls ? await freePort() : 0;
  if (typeof options.tls === 'object') {
    await options.tls.ca.issue(dir);
  } else if (options.tls) {
    await execFileAsync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ]);
  }
  let pushUrl = options.pushNotification?.url;
  const writeConfig = () => writeFile(p.config, renderConfig(p, imapPort, lmtpPort, mailUser.uid, options, imapsPort, pushUrl), { mode: 0o644 });
  await writeConfig();
  if (options.oauth2) {
    // Holds the introspection credentials: readable by the auth process (runs as "dovecot") only.
    const settings = path.join(dir, 'dovecot-oauth2.conf.ext');
    await writeFile(settings, renderOAuth2Settings(options.oauth2), { mode: 0o640 });
    const dovecotUser = await lookupUser('dovecot');
    await chown(settings, 0, dovecotUser.gid);
  }

  // ---- passwd-file maintenance -------------------------------------------
  //
  // Dovecot re-reads a passwd-file when its mtime or size changed, but it
  // (a) compares mtime in whole seconds and (b) stat()s the file at most once
  // per second (db-passwd-file.c: `if (pw->last_sync_time == ioloop_time)`).
  // So: every version we write gets a strictly increasing mtime, and writes
  // return only after the wall clock has entered the next second. Any lookup
  // after that re-stat()s and sees the new version.
  const users = new Map<string, string>();
  let lastStamp = 0;
  let writeQueue: Promise<void> = Promise.resolve();

  function writeUsers(): Promise<void> {
    const job = writeQueue.then(async () => {
      const content = [...users].map(([user, pass]) => `${user}:{PLAIN}${pass}::::::\n`).join('');
      const tmp = `${p.users}.tmp`;
      // Readable by the auth process (runs as "dovecot"). Test passwords only.
      await writeFile(tmp, content, { mode: 0o644 });
      lastStamp = Math.max(Math.floor(Date.now() / 1000), lastStamp + 1);
      await utimes(tmp, lastStamp, lastStamp);
      await rename(tmp, p.users); // atomic: auth never reads a half-written file
      const now = Date.now();
      await sleep(Math.ceil(now / 1000) * 1000 - now + 20);
    });
    writeQueue = job.catch(() => undefined);
    return job;
  }
  await writeUsers();

  // ---- process control ----------------------------------------------------
  let daemon: Daemon | undefined;

  async function logTail(): Promise<string> {
    const output = await readFile(p.masterOutput, 'utf8').catch(() => '');
    const log = await readFile(p.log, 'utf8').catch(() => '');
    return `--- master output ---\n${output.slice(-2000)}\n--- dovecot.log ---\n${log.slice(-2000)}`;
  }

  async function startupFailure(reason: string): Promise<Error> {
    return new Error(`${reason}\n${await logTail()}`);
  }

  async function start(): Promise<void> {
    if (daemon?.isRunning()) return;
    // A master.pid left by a SIGKILLed run would make the master refuse to
    // start if its pid has been reused meanwhile; we know ours is gone.
    await rm(path.join(p.baseDir, 'master.pid'), { force: true });
    const current = await spawnDaemon('dovecot', ['-F', '-c', p.config], p.masterOutput);
    daemon = current;
    try {
      await waitFor(
        async () => {
          if (!current.isRunning()) throw await startupFailure('dovecot exited during startup');
          const imap = await readGreeting(imapPort).catch(() => '');
          if (!imap.startsWith('* OK')) return false;
          const lmtp = await readGreeting(lmtpPort).catch(() => '');
          return lmtp.startsWith('220');
        },
        { timeoutMs: 15_000, what: `Dovecot greetings on ports ${imapPort}/${lmtpPort}` },
      );
    } catch (err) {
      await current.stop();
      if ((err as Error).message.includes('--- dovecot.log ---')) throw err;
      throw await startupFailure((err as Error).message);
    }
  }

  async function stop(): Promise<void> {
    // Like a server restart: every session ends. The whole process group is
    // signalled (see daemon.ts), because the master alone leaves logged-in
    // IMAP processes running after it exits, still serving their clients.
    if (daemon) await daemon.stop('SIGTERM', 15_000);
    // The listening sockets are inherited by login processes; the port is
    // free for a restart only once all of them are gone too.
    await waitFor(async () => !(await isPortOpen(imapPort)) && !(await isPortOpen(lmtpPort)), {
      timeoutMs: 10_000,
      what: `Dovecot ports ${imapPort}/${lmtpPort} to close`,
    });
  }

  async function doveadm(args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
    try {
      const { stdout } = await execFileAsync('doveadm', ['-c', p.config, ...args], { timeout: options.timeoutMs ?? 15_000, maxBuffer: 64 * 2 ** 20 });
      return stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string; code?: unknown };
      throw new Error(`doveadm ${args.join(' ')} failed (exit ${String(e.code)}): ${e.stderr?.trim() || e.message}`);
    }
  }

  // The first start: a port taken between freePort() and Dovecot's bind is
  // replaced and Dovecot started again; any other failure removes the temp dir.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      const inUse = attempt < BIND_ATTEMPTS && isAddressInUse(await logTail());
      if (!inUse) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      imapPort = await freePort();
      lmtpPort = await freePort();
      imapsPort = options.tls ? await freePort() : 0;
      await writeConfig();
      await writeFile(p.masterOutput, '');
      await writeFile(p.log, '');
    }
  }

  /** Users added by reserveUsers() and not yet handed out by addUser(). */
  const reserved: DovecotUser[] = [];
  const randomUserName = () => `u${randomBytes(5).toString('hex')}`;

  async function addUsers(names: string[], pass?: string): Promise<DovecotUser[]> {
    const added: DovecotUser[] = [];
    for (const user of names) {
      if (!USER_NAME.test(user)) throw new Error(`unsupported test user name ${JSON.stringify(user)} (use [a-z0-9._-])`);
      if (users.has(user)) throw new Error(`user ${user} already exists`);
      const password = pass ?? randomBytes(12).toString('base64url');
      checkPassword(password);
      users.set(user, password);
      added.push({ user, pass: password, email: `${user}@${TEST_DOMAIN}` });
    }
    await writeUsers();
    return added;
  }

  return {
    host: LOOPBACK,
    imapPort,
    lmtpPort,
    imapsPort,
    dir,
    configPath: p.config,

    async addUser(name?: string, pass?: string): Promise<DovecotUser> {
      const spare = name === undefined && pass === undefined ? reserved.shift() : undefined;
      if (spare) return spare;
      const [added] = await addUsers([name ?? randomUserName()], pass);
      return added!;
    },

    addUsers,

    async reserveUsers(count: number): Promise<void> {
      reserved.push(...(await addUsers(Array.from({ length: count }, randomUserName))));
    },

    async setPassword(user: string, pass: string): Promise<void> {
      const key = localPart(user);
      if (!users.has(key)) throw new Error(`unknown user ${user}`);
      checkPassword(pass);
      users.set(key, pass);
      await writeUsers();
    },

    async removeUser(user: string): Promise<void> {
      if (!users.delete(localPart(user))) throw new Error(`unknown user ${user}`);
      await writeUsers();
    },

    async deliver(to, raw, options = {}): Promise<void> {
      await deliverLmtp({ host: LOOPBACK, port: lmtpPort, from: options.from ?? `sender@${TEST_DOMAIN}`, to, raw });
    },

    async setUidValidity(user: string, mailbox: string, value: number): Promise<void> {
      if (!Number.isInteger(value) || value < 1 || value > 0xffffffff) {
        throw new Error(`UIDVALIDITY must be an integer in 1..2^32-1, got ${value}`);
      }
      // Dovecot 2.3 syntax: options before the mailbox name. Works on maildir
      // (updates dovecot-uidlist and the index) while the server is running.
      await doveadm(['mailbox', 'update', '-u', localPart(user), '--uid-validity', String(value), mailbox]);
    },

    doveadm,
    stop,
    start,

    async setPushNotificationUrl(url: string | undefined): Promise<void> {
      if (!options.pushNotification) throw new Error('start Dovecot with the pushNotification option first');
      pushUrl = url;
      await writeConfig();
      const before = (await readFile(p.log, 'utf8').catch(() => '')).length;
      await doveadm(['reload']);
      // The master logs its reload; LMTP processes started after it read the new settings.
      await waitFor(async () => (await readFile(p.log, 'utf8').catch(() => '')).slice(before).includes('SIGHUP received'), { timeoutMs: 10_000, what: 'Dovecot reload' });
    },

    async serverMetadata(user: string, key: string): Promise<string | undefined> {
      // -s: server METADATA (not a mailbox's); the mailbox argument is then empty.
      const out = await doveadm(['mailbox', 'metadata', 'get', '-s', '-u', localPart(user), '', key]);
      const value = out.replace(/\n$/, '');
      return value === '' ? undefined : value;
    },

    async readLog(): Promise<string> {
      return readFile(p.log, 'utf8').catch(() => '');
    },

    logTail,

    async cleanup(): Promise<void> {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
