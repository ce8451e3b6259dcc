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
import { deliverLmtp } from './lmtp.js';
import { BIND_ATTEMPTS, freePort, isAddressInUse, isPortOpen, LOOPBACK, readGreeting } from './ports.js';
import type { TestCa } from './test-ca.js';
import { sleep, waitFor } from './wait.js';

const execFileAsync = promisify(execFile);

export const TEST_DOMAIN = 'example.test';

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
  /** Adds a passwd-file user; usable for IMAP and LMTP as soon as this resolves. */
  addUser(name?: string, pass?: string): Promise<DovecotUser>;
  /** Adds many passwd-file users with one write of the file (addUser() waits a second per call). */
  addUsers(names: string[], pass?: string): Promise<DovecotUser[]>;
  /** Changes a user's password; the old one is rejected as soon as this resolves. */
  setPassword(user: string, pass: string): Promise<void>;
  /** Removes a user from the passwd-file (its maildir stays). */
  removeUser(user: string): Promise<void>;
  /** Delivers a raw message through LMTP (like an MTA would). */
  deliver(to: string | string[], raw: string | Buffer, options?: { from?: string }): Promise<void>;
  /** `doveadm mailbox update --uid-validity`: simulates a server-side mailbox reset. */
  setUidValidity(user: string, mailbox: string, value: number): Promise<void>;
  /** Runs `doveadm -c <conf> ...args` and returns stdout. */
  doveadm(args: string[]): Promise<string>;
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

interface Paths {
  dir: string;
  config: string;
  users: string;
  log: string;
  masterOutput: string;
  baseDir: string;
  stateDir: string;
  mail: string;
  home: string;
}

async function lookupUser(name: string): Promise<{ uid: number; gid: number }> {
  const { stdout } = await execFileAsync('getent', ['passwd', name]);
  const [, , uid, gid] = stdout.trim().split(':');
  if (uid === undefined || gid === undefined) throw new Error(`cannot resolve system user ${name}`);
  return { uid: Number(uid), gid: Number(gid) };
}

export interface DovecotOptions {
  /**
   * Also serve IMAPS on `imapsPort` and offer STARTTLS, with a self-signed certificate for
   * localhost (`true`), or with one signed by a test CA (see test-ca.ts); `required` refuses any
   * login before TLS (Dovecot's `ssl = required`), as a real server does.
   */
  tls?: boolean | { ca: TestCa; required?: boolean };
  /** Replaces the capability list sent after login, e.g. to play a server without IDLE. */
  capabilities?: string;
  /**
   * Appended to the generated config as is, e.g. service limits for a benchmark with thousands of
   * connections. Later settings override earlier ones; a repeated `service x { }` block merges.
   */
  extraConfig?: string;
  /**
   * Loads notify + push_notification for LMTP with METADATA on (imap_metadata, a file attribute
   * dict per user), like contrib/dovecot/: Dovecot then POSTs each delivery to users whose
   * http-notify METADATA is set to `url` (the OX driver). The URL may be given later, once the
   * gateway listens, with setPushNotificationUrl().
   */
  pushNotification?: { url?: string };
  /**
   * Also accepts OAuth2 bearer tokens (SASL XOAUTH2 and OAUTHBEARER), like Gmail or Microsoft 365:
   * a second passdb (driver oauth2) asks the provider's introspection endpoint (RFC 7662, POST
   * `token=`) whether the token is active and checks that `usernameAttribute` of the answer is
   * the login's user name (after auth_username_format, so `alice@example.test` matches `alice`).
   * Password logins keep working for other users.
   */
  oauth2?: { introspectionUrl: string; usernameAttribute?: string };
}

function renderOAuth2Passdb(p: Paths): string {
  return `passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = ${path.join(p.dir, 'dovecot-oauth2.conf.ext')}
}
`;
}

function renderOAuth2Settings(oauth2: NonNullable<DovecotOptions['oauth2']>): string {
  return `# Generated by test/helpers/dovecot.ts: token checks at the test's OpenID provider.
introspection_mode = post
introspection_url = ${oauth2.introspectionUrl}
force_introspection = yes
username_attribute = ${oauth2.usernameAttribute ?? 'sub'}
username_format = %Ln
active_attribute = active
active_value = true
`;
}

function renderPushNotification(p: Paths, url: string | undefined): string {
  return `# Server-assisted push (contrib/dovecot/): METADATA, and the OX driver for LMTP deliveries.
imap_metadata = yes
mail_attribute_dict = file:${p.mail}/%u/dovecot-attributes
protocol lmtp {
  mail_plugins = $mail_plugins notify push_notification
}
${url ? `plugin {\n  push_notification_driver = ox:url=${url} user_from_metadata timeout_msecs=1000\n}\n` : ''}`;
}

function renderTls(p: Paths, imapsPort: number, required: boolean): string {
  return `ssl = ${required ? 'required' : 'yes'}
ssl_cert = <${path.join(p.dir, 'cert.pem')}
ssl_key = <${path.join(p.dir, 'key.pem')}
service imap-login {
  inet_listener imaps {
    address = ${LOOPBACK}
    port = ${imapsPort}
    ssl = yes
  }
}
`;
}

function renderConfig(p: Paths, imapPort: number, lmtpPort: number, mailUid: number, options: DovecotOptions, imapsPort: number, pushUrl: string | undefined): string {
  return `# Generated by test/helpers/dovecot.ts -- a throwaway test instance.
# Unique name, and every runtime path inside the temp dir, so this instance
# never collides with a system Dovecot (or another test file's instance).
instance_name = mailpush-test-${path.basename(p.dir)}
base_dir = ${p.baseDir}
state_dir = ${p.stateDir}
log_path = ${p.log}

protocols = imap lmtp
# Listeners without an explicit address would bind this: loopback only.
listen = ${LOOPBACK}
ssl = no
${options.capabilities ? `imap_capability = ${options.capabilities}\n` : ''}disable_plaintext_auth = no
auth_mechanisms = plain login${options.oauth2 ? ' xoauth2 oauthbearer' : ''}
# Log failed logins ("Password mismatch", "unknown user") so tests can assert on them.
auth_verbose = yes
# A wrong password is answered after the next 0.5 s failure flush instead of
# the default 2 s; still asynchronous, just quicker tests.
auth_failure_delay = 0
# "alice@example.test" (LMTP RCPT TO) and "alice" (IMAP LOGIN) are the same
# user: the domain is dropped and the name lowercased before any lookup, so
# %u below is always the bare name.
auth_username_format = %Ln

default_internal_user = dovecot
default_login_user = dovenull
# Mail is stored as the system user "mail" (uid ${mailUid}); the default
# first_valid_uid (500) would refuse such a low uid.
first_valid_uid = ${mailUid}

mail_location = maildir:${p.mail}/%u
# Tests (and the gateway's workers) open many connections per user from 127.0.0.1.
mail_max_userip_connections = 1000
imap_idle_notify_interval = 2 mins
lmtp_save_to_detail_mailbox = no

passdb {
  driver = passwd-file
${options.oauth2 ? '  mechanisms = plain login\n' : ''}  args = ${p.users}
}
${options.oauth2 ? renderOAuth2Passdb(p) : ''}userdb {
  driver = passwd-file
  args = ${p.users}
  override_fields = uid=mail gid=mail home=${p.home}/%u
}

service imap-login {
  inet_listener imap {
    address = ${LOOPBACK}
    port = ${imapPort}
  }
  # Built-in default would bind 993; the TLS option below opens its own port.
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = ${LOOPBACK}
    port = ${lmtpPort}
  }
}
# Disable the auth penalty. Otherwise, after ONE failed login from 127.0.0.1,
# every later login from 127.0.0.1 (all tests, all users) is delayed 4 s, then
# 8 s, up to 15 s. login_trusted_networks does not lift it in 2.3.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
${options.tls ? renderTls(p, imapsPort, typeof options.tls === 'object' && options.tls.required === true) : ''}${options.pushNotification ? renderPushNotification(p, pushUrl) : ''}${options.extraConfig ? `${options.extraConfig}\n` : ''}`;
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
  const dir = await mkdtemp('/tmp/mailpush-dovecot-');
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

  async function doveadm(args: string[]): Promise<string> {
    try {
      const { stdout } = await execFileAsync('doveadm', ['-c', p.config, ...args], { timeout: 15_000 });
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
      const [added] = await addUsers([name ?? `u${randomBytes(5).toString('hex')}`], pass);
      return added!;
    },

    addUsers,

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
