// The OpenAPI document is pinned: an API change shows up as a diff of test/golden/openapi.json,
// so it is made on purpose. After an intended change: UPDATE_GOLDEN=1 npm test, and review the diff.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { createEmbeddedAdapters } from '../src/adapters/embedded.js';
import { loadConfig } from '../src/config.js';
import { buildWebApp } from '../src/roles/web/app.js';

const golden = new URL('../../test/golden/openapi.json', import.meta.url);

test('GET /openapi.json matches the pinned document, and /docs serves a reader for it', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'mailpush-openapi-'));
  const config = loadConfig({ DATA_DIR: dataDir, MAILPUSH_SECRET: 'openapi-test-secret-long-enough-for-32-characters' });
  const adapters = createEmbeddedAdapters(config);
  const app = await buildWebApp({ config, adapters, logger: pino({ level: 'silent' }) });
  try {
    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(response.statusCode, 200);
    const document = `${JSON.stringify(response.json(), null, 2)}\n`;
    if (process.env.UPDATE_GOLDEN) await writeFile(golden, document);
    assert.equal(document, await readFile(golden, 'utf8'), 'the API changed: review, then UPDATE_GOLDEN=1 npm test');
    const parsed = JSON.parse(document) as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    assert.match(parsed.openapi, /^3\./);
    // Every operation documents its error responses as well as its success.
    for (const [route, operations] of Object.entries(parsed.paths)) {
      if (!route.startsWith('/v1/') || route === '/v1/stream') continue;
      for (const [method, operation] of Object.entries(operations)) assert.ok(operation.responses['401'] || operation.responses['400'], `${method} ${route}`);
    }
    const docs = await app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
  } finally {
    await app.close();
    await adapters.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
