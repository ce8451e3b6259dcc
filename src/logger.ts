import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

/**
 * Paths pino blanks out wherever they appear in a log line: credentials must never reach a log,
 * even when someone logs a whole request or account object while debugging.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'pass',
  'password',
  'token',
  'sealedPassword',
  '*.pass',
  '*.password',
  '*.token',
  '*.sealedPassword',
  'imap.pass',
  'body.imap.pass',
  'auth.pass',
  // OAuth grants (src/oauth/grant.ts) and imapflow's auth option for token logins.
  'accessToken',
  'refreshToken',
  '*.accessToken',
  '*.refreshToken',
];

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options = { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
