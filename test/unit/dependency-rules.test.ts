// Dependencies point inward: core is pure logic and the ports, and knows nothing of Redis keys,
// configuration, adapters or roles; roles reach storage only through the ports (the Adapters
// object's narrow fields), never through the Redis connection or key builder behind them.
// Read from the TypeScript sources, so a new import that breaks a rule fails here at once.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(path.join(src, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(dir, file));
}

/** Every module specifier a file imports or re-exports, static or dynamic. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(src, file), 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*'([^']+)'/gm)) found.push(match[1]!);
  for (const match of text.matchAll(/^\s*import\s*'([^']+)'/gm)) found.push(match[1]!);
  for (const match of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) found.push(match[1]!);
  return found;
}

/** A relative specifier as a path under src/ ("core/types.js"); other specifiers unchanged. */
function resolved(file: string, specifier: string): string {
  return specifier.startsWith('.') ? path.posix.join(path.posix.dirname(file.split(path.sep).join('/')), specifier) : specifier;
}

test('core imports only core, src/protocol and Node built-ins: no keys, config, adapters, roles or packages', () => {
  const files = sources('core');
  assert.ok(files.length > 5, 'found the core sources');
  const wrong: string[] = [];
  for (const file of files) {
    for (const specifier of importsOf(file)) {
      const target = resolved(file, specifier);
      if (specifier.startsWith('node:') || target.startsWith('core/') || target.startsWith('protocol/')) continue;
      wrong.push(`${file} imports ${specifier}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('roles reach storage only through the ports: not through adapters.redis, adapters.keys, keys.ts or an adapter module', () => {
  const files = sources('roles');
  assert.ok(files.length > 5, 'found the role sources');
  const wrong: string[] = [];
  for (const file of files) {
    const text = readFileSync(path.join(src, file), 'utf8');
    for (const match of text.matchAll(/\badapters\??\.(redis|keys)\b/g)) wrong.push(`${file} uses adapters.${match[1]}`);
    for (const specifier of importsOf(file)) {
      const target = resolved(file, specifier);
      const storage = target === 'keys.js' || (target.startsWith('adapters/') && target !== 'adapters/adapters.js');
      if (storage || ['ioredis', 'node:sqlite'].includes(specifier)) wrong.push(`${file} imports ${specifier}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('src/oauth (provider settings, grants, token refresh) serves the roles and imports none of them', () => {
  const files = sources('oauth');
  assert.ok(files.length >= 4, 'found the oauth sources');
  const wrong: string[] = [];
  for (const file of files) {
    for (const specifier of importsOf(file)) {
      if (resolved(file, specifier).startsWith('roles/')) wrong.push(`${file} imports ${specifier}`);
    }
  }
  assert.deepEqual(wrong, []);
});
