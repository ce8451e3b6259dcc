// The PWA's build steps around tsc (see the build:pwa script in package.json):
//   node pwa/tools/build.mjs clean   removes dist/pwa (and dist/pwa-sw), so no stale file is served or cached
//   node pwa/tools/build.mjs         copies pwa/static into dist/pwa and writes the service worker to
//                                    dist/pwa/sw.js with the app-shell list and its content hash
//
// tsc compiles the page (tsconfig.pwa.json) into dist/pwa/js/ with the repository's layout:
// js/pwa/app/*.js and the protocol they share with the gateway, js/src/protocol/*.js. The service
// worker (pwa/sw/tsconfig.json) uses the protocol's types only, but they still put src/protocol in
// its program, so it compiles into dist/pwa-sw/ (the same layout) and only its sw.js is taken.
// The one runtime code it shares with the page, the catalog (src/protocol/i18n), is put in front
// of sw.js as MAILPUSH_I18N: a classic worker cannot import modules, and the page must not get a
// second copy of the text to drift apart (see inlineModules below).
// Plain node, no dependencies of its own: it also runs in the Docker build stage (after npm ci).

import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

// Browser modules from npm, served from this origin (there is no bundler, and the CSP admits no
// other): the QR encoder's ES module build (pwa/app/qr-code.ts loads it on first use). The name
// ends in .js so it is served as JavaScript by any static server.
const vendor = path.join(out, 'vendor');
mkdirSync(vendor, { recursive: true });
copyFileSync(path.join(root, 'node_modules', 'qrcode-generator', 'dist', 'qrcode.mjs'), path.join(vendor, 'qrcode-generator.js'));

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

/**
 * Joins compiled ES modules (dependencies first) into one classic-script expression whose value is
 * the last module's exports. Each module keeps its own scope; an `import { a, b } from './x.js'` of
 * an earlier one becomes a binding to its exports. Anything else (imports from elsewhere, default
 * or re-exports) is refused, so the shared code stays the plain, self-contained kind this handles.
 */
function inlineModules(dir, names) {
  const chunks = [];
  for (const name of names) {
    let code = readFileSync(path.join(dir, name), 'utf8');
    code = code.replace(/^import \{([^}]*)\} from '\.\/([\w.-]+)';$/gm, (line, bindings, from) => {
      if (!names.slice(0, names.indexOf(name)).includes(from)) throw new Error(`${name}: ${line} is not one of the inlined modules before it`);
      return `const {${bindings}} = __modules[${JSON.stringify(from)}];`;
    });
    const exported = [];
    code = code.replace(/^export (const|let|function|class) (\w+)/gm, (_, kind, id) => {
      exported.push(id);
      return `${kind} ${id}`;
    });
    if (/^\s*(import|export)\b/m.test(code)) throw new Error(`${name}: only named imports of the inlined modules and exported declarations can be inlined`);
    chunks.push(`__modules[${JSON.stringify(name)}] = (() => {\n${code}\nreturn { ${exported.join(', ')} };\n})();`);
  }
  return `(() => {\nconst __modules = {};\n${chunks.join('\n')}\nreturn __modules[${JSON.stringify(names.at(-1))}];\n})()`;
}

const i18n = inlineModules(path.join(swBuild, 'src', 'protocol', 'i18n'), ['messages-en.js', 'messages-ja.js', 'translate.js']);
// The message actions and the message view's route, which notification buttons and taps use.
const messages = inlineModules(path.join(swBuild, 'src', 'protocol'), ['messages.js']);
// The notification tags, which a quiet notification keeps of the mails it stands for.
const pushTags = inlineModules(path.join(swBuild, 'src', 'protocol'), ['push.js']);

const placeholder = "{ version: 'SHELL_VERSION', files: ['SHELL_FILES'] }";
const source = readFileSync(path.join(swBuild, 'pwa', 'sw', 'sw.js'), 'utf8');
if (!source.includes(placeholder)) throw new Error('dist/pwa-sw/pwa/sw/sw.js has no shell placeholder: was pwa/sw/sw.ts changed?');
if (!source.includes('MAILPUSH_MESSAGES')) throw new Error('dist/pwa-sw/pwa/sw/sw.js does not use MAILPUSH_MESSAGES: drop the inlined module from build.mjs too');
if (!source.includes('MAILPUSH_PUSH')) throw new Error('dist/pwa-sw/pwa/sw/sw.js does not use MAILPUSH_PUSH: drop the inlined module from build.mjs too');
if (!source.includes('MAILPUSH_I18N')) throw new Error('dist/pwa-sw/pwa/sw/sw.js does not use MAILPUSH_I18N: drop the inlined catalog from build.mjs too');
const withShell = source.replace(placeholder, JSON.stringify({ version, files }));
// After the file's opening comment, before its code: the worker's first statement may use it.
writeFileSync(swFile, `// The app's catalog and formatter (src/protocol/i18n), inlined by pwa/tools/build.mjs.\nconst MAILPUSH_I18N = ${i18n};\n// End of the inlined catalog.\n// src/protocol/messages.ts (message actions, the message view's route), inlined likewise.\nconst MAILPUSH_MESSAGES = ${messages};\n// src/protocol/push.ts (notification tags), inlined likewise.\nconst MAILPUSH_PUSH = ${pushTags};\n\n${withShell}`);
console.log(`pwa: ${files.length} shell files, version ${version}`);
