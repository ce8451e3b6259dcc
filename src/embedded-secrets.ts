// Embedded mode's first start: a newcomer runs `mailpush all` with nothing configured, so the root
// secret and the VAPID keys are generated once into DATA_DIR (files readable by this user only)
// and reused on every later start. Given in the environment, they win.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { generateVapidKeys } from './push/vapid.js';

function readOrCreate(file: string, create: () => string): { value: string; created: boolean } {
  try {
    return { value: readFileSync(file, 'utf8').trim(), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const value = create();
    // 'wx': if two processes race on a first start, the second fails instead of overwriting.
    writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
    return { value, created: true };
  }
}

export function completeEmbeddedConfig(config: Config, log: Logger): Config {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const generated: string[] = [];
  let secret = config.secret;
  if (!secret) {
    const file = path.join(config.dataDir, 'secret');
    const result = readOrCreate(file, () => randomBytes(32).toString('base64url'));
    secret = result.value;
    if (result.created) generated.push(`MAILPUSH_SECRET (${file})`);
  }
  let vapid = config.push.vapid;
  if (!vapid) {
    const file = path.join(config.dataDir, 'vapid.json');
    const result = readOrCreate(file, () => JSON.stringify(generateVapidKeys()));
    const keys = JSON.parse(result.value) as { publicKey: string; privateKey: string };
    vapid = { ...keys, subject: 'mailto:postmaster@localhost' };
    if (result.created) generated.push(`VAPID keys (${file})`);
  }
  if (generated.length) log.info(`first start: generated ${generated.join(' and ')}; keep ${config.dataDir} safe and backed up`);
  return Object.freeze({ ...config, secret, push: { ...config.push, vapid } });
}
