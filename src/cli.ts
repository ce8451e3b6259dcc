#!/usr/bin/env node
// The `mailpush` executable. Only this file reads process.argv or installs signal handlers.

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCheckImap } from './check-imap-command.js';
import { ConfigError, loadConfig } from './config.js';
import { startGateway, type Role } from './gateway.js';
import { createLogger } from './logger.js';
import { generateVapidKeys } from './push/vapid.js';

const USAGE = `Usage: mailpush <command> [--help]

Commands:
  all         run the web front end and an IMAP worker in one process
  web         run the HTTP + WebSocket front end
  worker      hold IMAP IDLE connections and append events
  check-imap  check whether push can work with an IMAP server, and why not
  vapid-keys  print a fresh VAPID key pair for Web Push (.env format)
  help        show this text, or \`mailpush help <command>\` for one command

Configuration comes from environment variables; see .env.example.`;

const ROLE_HELP_TAIL = `Configuration comes from environment variables (see .env.example). The ones that matter most:
  PORT, HOST          where the web role listens (default 127.0.0.1:8080)
  REDIS_URL           shared Redis; without it only \`all\` runs, embedded, on DATA_DIR
  REDIS_CLUSTER_NODES a Redis Cluster instead (host:port seeds, comma-separated)
  MAILPUSH_SECRET     encrypts stored IMAP passwords; required with REDIS_URL
  ADMIN_TOKEN         admin API and GET /metrics on PORT
  METRICS_PORT        a separate port with /metrics, /healthz and /readyz (no token)
  VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY, VAPID_SUBJECT   turn Web Push on

Stops cleanly on SIGTERM or SIGINT.`;

const COMMAND_HELP: Record<string, string> = {
  all: `Usage: mailpush all

Runs the web front end and an IMAP worker in one process. Without REDIS_URL everything is
embedded: a SQLite store, secrets and VAPID keys under DATA_DIR (default ./data), generated on
first start. Open http://localhost:8080 for the web app.

${ROLE_HELP_TAIL}`,
  web: `Usage: mailpush web

Runs the REST API, the WebSocket stream (/v1/stream), the web app, and Web Push delivery.
Needs REDIS_URL; run as many as you like behind a load balancer.

${ROLE_HELP_TAIL}`,
  worker: `Usage: mailpush worker

Holds one IMAP IDLE connection per watched mailbox and appends new mail to the users' event
logs. Needs REDIS_URL; workers share the accounts fairly and take over each other's on failure.
Probe it through METRICS_PORT (/healthz, /readyz: storage reachable and leases current).

${ROLE_HELP_TAIL}`,
  'check-imap': `Usage: mailpush check-imap --host <host> --user <user> [options]

Connects to an IMAP server the way a worker does and reports TLS, login time, the capabilities
push relies on (IDLE, QRESYNC, METADATA, CONDSTORE) and, with --watch, how long the server takes from
storing a new message to announcing it (EXISTS). Asks for the password on the terminal, or
reads it from the first line of standard input when that is not a terminal.

Options:
  --host <host>            the IMAP server (required)
  --user <user>            the login name (required)
  --security <mode>        tls (default), starttls or none
  --port <port>            default 993 with tls, 143 otherwise
  --mailbox <name>         the mailbox to open and watch (default INBOX)
  --watch                  wait for one new message and time its EXISTS
  --watch-timeout <s>      how long to wait with --watch (default 300)
  --timeout <s>            connect and login timeout (default 15)
  --insecure-tls           go on when the certificate does not verify (and say so)
  --hook-port <port>       with --watch: also listen on 127.0.0.1:<port> for Dovecot's
                           push_notification request and report whether one came for the new
                           message and how long before its EXISTS (see contrib/dovecot/)

Exit status: 0 when push can work, 1 when the server cannot be reached or logged in to, 2 on
a usage error.`,
  'vapid-keys': `Usage: mailpush vapid-keys

Prints a fresh VAPID key pair in .env form (VAPID_PUBLIC_KEY=…, VAPID_PRIVATE_KEY=…). Every web
process must use the same pair; changing it invalidates every browser's push subscription.`,
};

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'help';
  if (command === 'help' || command === '--help' || command === '-h') {
    const topic = command === 'help' ? argv[1] : undefined;
    if (topic && !COMMAND_HELP[topic]) {
      process.stderr.write(`mailpush: no help for "${topic}"\n\n${USAGE}\n`);
      return 2;
    }
    process.stdout.write(`${topic ? COMMAND_HELP[topic] : USAGE}\n`);
    return 0;
  }
  if (COMMAND_HELP[command] && (argv.includes('--help') || argv.includes('-h'))) {
    process.stdout.write(`${COMMAND_HELP[command]}\n`);
    return 0;
  }
  if (command === 'check-imap') return runCheckImap(argv.slice(1), COMMAND_HELP['check-imap']!);
  if (command === 'vapid-keys') {
    const keys = generateVapidKeys();
    process.stdout.write(`VAPID_PUBLIC_KEY=${keys.publicKey}\nVAPID_PRIVATE_KEY=${keys.privateKey}\n`);
    return 0;
  }
  if (command !== 'all' && command !== 'web' && command !== 'worker') {
    process.stderr.write(`mailpush: unknown command "${command}"\n\n${USAGE}\n`);
    return 2;
  }
  if (argv.length > 1) {
    process.stderr.write(`mailpush: ${command} takes no arguments (configuration comes from the environment): ${argv.slice(1).join(' ')}\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`mailpush: configuration error: ${error.message}\n`);
      return 78; // EX_CONFIG
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  let gateway;
  try {
    gateway = await startGateway(command as Role, config, logger);
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { port?: number };
    const variable = e.port !== undefined && e.port === config.metricsPort && e.port !== config.port ? 'METRICS_PORT' : 'PORT';
    const hint = e.code === 'EADDRINUSE' ? `port ${e.port ?? config.port} is in use; set ${variable} to a free one` : e.message;
    process.stderr.write(`mailpush: cannot start ${command}: ${hint}\n`);
    return 1;
  }
  if (gateway.url) logger.info({ url: gateway.url }, 'listening');
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => process.exit(1), 20_000);
      force.unref();
      gateway.stop().then(resolve, resolve);
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  return 0;
}

/** True when this file is the program being run (directly or through the npm bin link), not an import. */
function isEntryPoint(): boolean {
  const invoked = process.argv[1];
  if (!invoked) return false;
  try {
    return realpathSync(invoked) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`mailpush: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}

export { main };
