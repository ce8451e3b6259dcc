// The PWA's build steps around tsc (see the build:pwa script in package.json):
//   node pwa/tools/build.mjs clean   removes dist/pwa (and dist/pwa-sw), so no stale file is served or cached
//   node pwa/tools/build.mjs         copies pwa/static into dist/pwa and writes the service worker to
//                                    dist/pwa/sw.js with the app-shell list and its content hash
//
// tsc compiles the page (tsconfig.pwa.json) into dist/pwa/js/ with the repository's layout:
// js/pwa/app/*.js and the protocol they share with the gateway, js/src/protocol/*.js. The service
// worker (pwa/sw/tsconfig.json) uses the protocol's types only, but they still put src/protocol in
// its program, so it compiles into dist/pwa-sw/ (the same layout) and only its sw.js is taken.
// Plain node, no dependencies: it also runs in the Docker build stage.

import { createHash } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = path.join(root, 'dist', 'pwa');
const swBuild = path.join(root, 'dist', 'pwa-sw');

if (process.argv[2] === 'clean') {
  rmSync(out, { recursive: true, force: true });
  rmSync(swBuild, { recursive: true, force: true });
  process.exit(0);
}

cpSync(path.join(root, 'pwa', 'static'), out, { recursive: true });

/** Every file under dist/pwa as a URL path, sorted, so the hash does not depend on the file system. */
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? walk(full) : [full];
  });
}
const swFile = path.join(out, 'sw.js');
const files = walk(out)
  .filter((file) => file !== swFile && !file.endsWith('.map'))
  .map((file) => `/${path.relative(out, file).split(path.sep).join('/')}`)
  .sort();

const hash = createHash('sha256');
for (const file of files) hash.update(file).update('\0').update(readFileSync(path.join(out, file))).update('\0');
const version = hash.digest('hex').slice(0, 16);

const placeholder = "{ version: 'SHELL_VERSION', files: ['SHELL_FILES'] }";
const source = readFileSync(path.join(swBuild, 'pwa', 'sw', 'sw.js'), 'utf8');
if (!source.includes(placeholder)) throw new Error('dist/pwa-sw/pwa/sw/sw.js has no shell placeholder: was pwa/sw/sw.ts changed?');
writeFileSync(swFile, source.replace(placeholder, JSON.stringify({ version, files })));
console.log(`pwa: ${files.length} shell files, version ${version}`);
