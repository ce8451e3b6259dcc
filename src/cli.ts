#!/usr/bin/env node
// The `mailpush` executable. Only this file reads process.argv or installs signal handlers.

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from './config.js';
import { startGateway, type Role } from './gateway.js';
import { createLogger } from './logger.js';
import { generateVapidKeys } from './push/vapid.js';

const USAGE = `Usage: mailpush <command>

Commands:
  all         run the web front end and an IMAP worker in one process
  web         run the HTTP + WebSocket front end
  worker      hold IMAP IDLE connections and append events
  vapid-keys  print a fresh VAPID key pair for Web Push (.env format)
  help        show this text

Configuration comes from environment variables; see .env.example.`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'help';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command === 'vapid-keys') {
    const keys = generateVapidKeys();
    process.stdout.write(`VAPID_PUBLIC_KEY=${keys.publicKey}\nVAPID_PRIVATE_KEY=${keys.privateKey}\n`);
    return 0;
  }
  if (command !== 'all' && command !== 'web' && command !== 'worker') {
    process.stderr.write(`mailpush: unknown command "${command}"\n\n${USAGE}\n`);
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
    const e = error as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? `port ${config.port} is in use; set PORT to a free one` : e.message;
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
