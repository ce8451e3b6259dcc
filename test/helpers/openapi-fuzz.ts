// Hostile HTTP requests for the gateway, generated from its own OpenAPI document (fast-check), so a
// route added tomorrow is fuzzed without editing the suite. Each request starts from something the
// route's schema allows (paths, methods, parameters, bodies; ids that exist) and is then bent: a key
// dropped, a value swapped for junk (wrong types, huge or odd unicode strings, huge numbers, deep
// nesting), prototype-pollution keys, invalid JSON, wrong content types, oversized bodies, bad or
// absent tokens, another method.
//
// Fields the gateway connects to (an IMAP host, a push endpoint) never get free junk: a random
// string can be a real host name (or "16843009", which resolves to 1.1.1.1). Their values come only
// from `outbound`, which the test fills with loopback and refused addresses.

import fc from 'fast-check';

type JsonSchema = { [key: string]: any };

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema: JsonSchema;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema: JsonSchema }> };
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

export interface FuzzRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  headers: Record<string, string>;
  /** The body as sent, if any. */
  body?: string;
  /** The operation it was built from, e.g. "PATCH /v1/accounts/{id}" (for the report). */
  operation: string;
}

export interface FuzzContext {
  /** Ids that exist (both users' accounts, subscriptions, user ids): path parameters use them often. */
  knownIds: string[];
  /** Authorization header values worth trying besides junk (the fuzzed user's token, the admin's). */
  authHeaders: string[];
  /** By property name: the only values a field the gateway connects to may take. */
  outbound: Record<string, fc.Arbitrary<unknown>>;
  /** By property name: extra values mixed with the schema's (a valid push key, say). */
  hints?: Record<string, fc.Arbitrary<unknown>>;
  /** Bodies around this size and above it test the limit. */
  bodyLimitBytes: number;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'];
export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

/** Characters an HTTP header value may carry (Node refuses the others before sending). */
const headerChar = fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })).map((c) => String.fromCharCode(c));
const headerString = fc.string({ unit: headerChar, maxLength: 80 });

const oddStrings = fc.constantFrom(
  '', ' ', '\u0000', '\ud800', '\udfff', '\u202e', '\ufeff', '𝕏😀', 'ǅ', 'İ', 'null', 'true', '0', '-1', '1e309', 'NaN', '{}', '[]',
  '%00', '%zz', '../../etc/passwd', '<script>alert(1)</script>', "' OR 1=1 --", '${7*7}', '\r\n', 'INBOX\u0000', '*', '%',
  '99999999999999999999-0', '18446744073709551616-0', '0-0', '1-18446744073709551616', 'usr_', 'acc_', 'a'.repeat(65), ...PROTO_KEYS,
);
const hugeNumbers = fc.constantFrom(-0, -1, 1.5, 2 ** 31, 2 ** 53 + 1, 2 ** 64, 1e308, -1e308, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 5e-324);
/** A long string without building it character by character (fast). */
const hugeString = fc.tuple(fc.integer({ min: 1_000, max: 80_000 }), fc.constantFrom('x', 'é', '😀', '\u0000', '%')).map(([n, c]) => c.repeat(n));

/** An object whose own key is `key` (JSON.parse makes `__proto__` an own property, as a client's JSON would). */
function withKey(key: string, value: unknown): Record<string, unknown> {
  const object = JSON.parse('{}') as Record<string, unknown>;
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  return object;
}

function nested(depth: number, leaf: unknown, asArray: boolean): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = asArray ? [value] : { a: value };
  return value;
}

const pollution = fc.tuple(fc.constantFrom(...PROTO_KEYS), fc.constantFrom<unknown>({ polluted: true }, { prototype: { polluted: true } }, 'polluted', null))
  .map(([key, value]) => withKey(key, value));

/** Any JSON value a hostile client might put where the schema wants something else. */
export const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  hugeNumbers,
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  oddStrings,
  hugeString,
  fc.jsonValue({ maxDepth: 3 }),
  fc.tuple(fc.integer({ min: 50, max: 2_000 }), fc.boolean()).map(([depth, asArray]) => nested(depth, 1, asArray)),
  pollution,
);

/** A junk query or path value (always text). */
const junkText: fc.Arbitrary<string> = fc.oneof(
  oddStrings,
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  hugeNumbers.map(String),
  // Up to a little over Node's 16 KiB header limit.
  fc.integer({ min: 1_000, max: 17_000 }).map((n) => 'x'.repeat(n)),
);

/** Percent-encodes like a client, but also lets through the raw bytes a sloppy or hostile one sends. */
const encoded = (text: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof({ weight: 6, arbitrary: text.map((t) => encodeURIComponent(safeUnicode(t))) }, { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%c0%ae', '%00', '..', '%2e%2e', '%2F', 'a%2Fb', '%ff%fe', ';x=1') });

/** encodeURIComponent throws on a lone surrogate: replace those. */
function safeUnicode(text: string): string {
  return text.replace(/[\ud800-\udfff]/g, (c, i: number) => {
    const code = c.charCodeAt(0);
    const next = text.charCodeAt(i + 1);
    const prev = text.charCodeAt(i - 1);
    const paired = code < 0xdc00 ? next >= 0xdc00 && next <= 0xdfff : prev >= 0xd800 && prev < 0xdc00;
    return paired ? c : '\ufffd';
  });
}

/** Values a schema allows (within reason: long strings are capped), with the context's hints mixed in. */
export function fromSchema(schema: JsonSchema, doc: OpenApiDocument, ctx: FuzzContext, name?: string): fc.Arbitrary<unknown> {
  if (name && ctx.outbound[name]) return ctx.outbound[name];
  const own = ownValues(schema, doc, ctx);
  const hint = name ? ctx.hints?.[name] : undefined;
  return hint ? fc.oneof(own, hint) : own;
}

function ownValues(schema: JsonSchema, doc: OpenApiDocument, ctx: FuzzContext): fc.Arbitrary<unknown> {
  if (typeof schema.$ref === 'string') {
    const target = doc.components?.schemas?.[schema.$ref.replace('#/components/schemas/', '')];
    return target ? fromSchema(target, doc, ctx) : junkValue;
  }
  const choices = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (choices) return fc.oneof(...choices.map((choice) => fromSchema(choice, doc, ctx)));
  if (Array.isArray(schema.allOf)) return fromSchema(Object.assign({}, ...schema.allOf), doc, ctx);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if ('const' in schema) return fc.constant(schema.const);
  switch (schema.type) {
    case 'string': {
      const minLength = schema.minLength ?? 0;
      const maxLength = Math.min(schema.maxLength ?? 40, Math.max(minLength, 40));
      if (schema.format === 'email') return fc.emailAddress();
      if (schema.pattern) {
        return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length >= minLength && s.length <= (schema.maxLength ?? Infinity));
      }
      return fc.oneof(
        fc.string({ minLength, maxLength }),
        fc.string({ unit: 'grapheme', minLength, maxLength }),
        ...(schema.maxLength ? [fc.constant('y'.repeat(schema.maxLength)), fc.constant('y'.repeat(schema.maxLength + 1))] : []),
      );
    }
    case 'integer':
      return fc.oneof(
        fc.integer({ min: schema.minimum ?? -(2 ** 31), max: schema.maximum ?? 2 ** 31 }),
        ...[schema.minimum, schema.maximum].filter((v) => typeof v === 'number').map((v) => fc.constant(v as number)),
      );
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true, ...(schema.minimum !== undefined ? { min: schema.minimum } : {}), ...(schema.maximum !== undefined ? { max: schema.maximum } : {}) });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const item = schema.items ? fromSchema(schema.items, doc, ctx) : junkValue;
      const constraints = { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 4, 6) };
      return schema.uniqueItems ? fc.uniqueArray(item, { ...constraints, selector: (v) => JSON.stringify(v) }) : fc.array(item, constraints);
    }
    case 'object':
    case undefined: {
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const names = Object.keys(properties);
      if (names.length === 0) return schema.type === 'object' ? fc.dictionary(fc.string({ maxLength: 10 }), junkValue, { maxKeys: 3 }) : junkValue;
      const record = Object.fromEntries(names.map((key) => [key, fromSchema(properties[key]!, doc, ctx, key)]));
      return fc.record(record, { requiredKeys: (schema.required ?? []) as string[] });
    }
    default:
      return junkValue;
  }
}

type Path = Array<string | number>;

function pathsOf(value: unknown, at: Path = []): Path[] {
  const found: Path[] = [at];
  if (Array.isArray(value)) value.forEach((item, i) => found.push(...pathsOf(item, [...at, i])));
  else if (value && typeof value === 'object') Object.entries(value).forEach(([key, item]) => found.push(...pathsOf(item, [...at, key])));
  return found;
}

function containerAt(root: unknown, path: Path): any {
  return path.reduce<any>((node, key) => node?.[key], root);
}

interface Mutation {
  kind: 'none' | 'drop' | 'replace' | 'add';
  /** Which node (modulo the number of nodes). */
  pick: number;
  junk: unknown;
  key: string;
  /** For a field the gateway connects to: the value it may take instead of junk. */
  outbound: Record<string, unknown>;
}

function mutation(ctx: FuzzContext): fc.Arbitrary<Mutation> {
  const outboundNames = Object.keys(ctx.outbound);
  return fc.record({
    kind: fc.constantFrom<Mutation['kind']>('none', 'none', 'drop', 'replace', 'replace', 'add'),
    pick: fc.nat(),
    junk: junkValue,
    key: fc.oneof(fc.constantFrom(...PROTO_KEYS), fc.string({ maxLength: 12 })).filter((key) => !outboundNames.includes(key)),
    outbound: fc.record(ctx.outbound),
  });
}

/** Applies one mutation to a copy of `value` (the root itself may be replaced). */
function mutate(value: unknown, m: Mutation): unknown {
  if (m.kind === 'none') return value;
  const copy = structuredClone(value);
  const paths = pathsOf(copy);
  const path = paths[m.pick % paths.length]!;
  if (path.length === 0) {
    if (m.kind === 'add' && copy && typeof copy === 'object' && !Array.isArray(copy)) {
      Object.defineProperty(copy, m.key, { value: m.junk, enumerable: true, writable: true, configurable: true });
      return copy;
    }
    return m.kind === 'drop' ? undefined : m.junk;
  }
  const parent = containerAt(copy, path.slice(0, -1));
  const last = path[path.length - 1]!;
  if (m.kind === 'drop') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else if (m.kind === 'replace') {
    const name = String(last);
    parent[last] = name in m.outbound ? m.outbound[name] : m.junk;
  } else {
    const node = containerAt(copy, path);
    if (node && typeof node === 'object' && !Array.isArray(node)) {
      Object.defineProperty(node, m.key, { value: m.junk, enumerable: true, writable: true, configurable: true });
    } else parent[last] = m.junk;
  }
  return copy;
}

/** A body as text: JSON of a (mutated) value, or bytes no JSON encoder would produce. */
function bodies(schema: JsonSchema | undefined, doc: OpenApiDocument, ctx: FuzzContext): fc.Arbitrary<string | undefined> {
  const fromRoute = schema ? fc.tuple(fromSchema(schema, doc, ctx), mutation(ctx)).map(([value, m]) => json(mutate(value, m))) : fc.constant(undefined);
  const limit = ctx.bodyLimitBytes;
  return fc.oneof(
    { weight: schema ? 10 : 1, arbitrary: fromRoute },
    { weight: schema ? 1 : 8, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: junkValue.map(json) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '', '{', '{"imap":', 'nul', 'undefined', '\ufeff{}', '{"a":1,"a":2}', '{"__proto__":{"polluted":true}}',
        '{"constructor":{"prototype":{"polluted":true}}}', '[1,2,', '{"a":NaN}', '{"a":1e99999}', "{'a':1}", '\u0000', '{"a":"\\ud800"}',
        '{"a":-}', ' ', '"\\u0000"', '123456789012345678901234567890',
      ),
    },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1_000, max: 40_000 }), fc.constantFrom('[', '{"a":')).map(([n, open]) => open.repeat(n) + (open === '[' ? ']' : '}').repeat(n)) },
    { weight: 1, arbitrary: fc.integer({ min: limit - 64, max: limit * 3 }).map((n) => `{"pad":"${'p'.repeat(n)}"}`) },
  );
}

const json = (value: unknown): string | undefined => (value === undefined ? undefined : JSON.stringify(value));

const CONTENT_TYPES = [
  'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16',
  'application/json; charset=iso-8859-1', 'APPLICATION/JSON', 'application/jsonx', '*/*', 'application/json;;;', 'application/xml',
  'application/json; charset=utf-8', 'text/json', 'application/octet-stream', '',
];

function queryString(parameters: Parameter[], doc: OpenApiDocument, ctx: FuzzContext): fc.Arbitrary<string> {
  const declared = parameters.filter((p) => p.in === 'query').map((p) =>
    fc.oneof(
      { weight: 2, arbitrary: fc.constant<string[]>([]) },
      { weight: 3, arbitrary: fromSchema(p.schema, doc, ctx, p.name).map((v) => [`${p.name}=${encodeURIComponent(safeUnicode(String(v)))}`]) },
      { weight: 2, arbitrary: encoded(junkText).map((v) => [`${p.name}=${v}`]) },
      { weight: 1, arbitrary: fc.tuple(encoded(junkText), encoded(junkText)).map(([a, b]) => [`${p.name}=${a}`, `${p.name}=${b}`]) },
    ));
  const extra = fc.array(
    fc.tuple(fc.oneof(fc.constantFrom(...PROTO_KEYS, '__proto__[polluted]', 'constructor[prototype][polluted]', 'a[]'), fc.string({ maxLength: 8 })), junkText)
      .map(([key, value]) => `${encodeURIComponent(key).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${encodeURIComponent(safeUnicode(value))}`),
    { maxLength: 2 },
  );
  return fc.tuple(fc.tuple(...declared), extra).map(([chosen, more]) => {
    const parts = [...chosen.flat(), ...more];
    return parts.length ? `?${parts.join('&')}` : '';
  });
}

function pathFor(template: string, parameters: Parameter[], doc: OpenApiDocument, ctx: FuzzContext): fc.Arbitrary<string> {
  const names = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
  if (names.length === 0) return fc.constant(template);
  const values = names.map((name) => {
    const schema = parameters.find((p) => p.in === 'path' && p.name === name)?.schema ?? { type: 'string' };
    return fc.oneof(
      { weight: 4, arbitrary: ctx.knownIds.length ? fc.constantFrom(...ctx.knownIds).map(encodeURIComponent) : fc.constant('x') },
      { weight: 2, arbitrary: fromSchema(schema, doc, ctx).map((v) => encodeURIComponent(safeUnicode(String(v)))) },
      { weight: 2, arbitrary: encoded(junkText) },
    );
  });
  return fc.tuple(...values).map((chosen) => names.reduce((path, name, i) => path.replace(`{${name}}`, chosen[i]!), template));
}

const authHeader = (ctx: FuzzContext): fc.Arbitrary<string | undefined> => fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 6, arbitrary: fc.constantFrom(...ctx.authHeaders) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.constantFrom('Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', `Bearer ${'A'.repeat(600)}`, 'Token x', ''),
      fc.constantFrom(...ctx.authHeaders).map((h) => `${h}x`),
      fc.constantFrom(...ctx.authHeaders).map((h) => h.toLowerCase()),
      fc.constantFrom(...ctx.authHeaders).map((h) => ` ${h}  `),
      headerString.map((s) => `Bearer ${s}`),
      headerString,
    ),
  },
);

/** A WebSocket upgrade, well-formed or not (any route may get one; the stream's answers it). */
const upgradeHeaders: fc.Arbitrary<Record<string, string>> = fc.record({
  connection: fc.constantFrom('Upgrade', 'upgrade', 'keep-alive, Upgrade', 'close'),
  upgrade: fc.constantFrom('websocket', 'WebSocket', 'h2c', ''),
  'sec-websocket-version': fc.constantFrom('13', '8', '99', '', 'x'),
  'sec-websocket-key': fc.constantFrom('dGhlIHNhbXBsZSBub25jZQ==', 'x', '', 'dGhlIHNhbXBsZSBub25jZQ'),
}, { requiredKeys: ['connection', 'upgrade'] });

/** Every operation of the document, as [method, path template, operation]. */
export function operationsOf(doc: OpenApiDocument): Array<[string, string, Operation]> {
  return Object.entries(doc.paths).flatMap(([template, methods]) =>
    Object.entries(methods).filter(([method]) => METHODS.includes(method.toUpperCase())).map(([method, op]) => [method.toUpperCase(), template, op] as [string, string, Operation]));
}

/** Requests for every operation in `doc`, each mutated in a few ways. */
export function fuzzRequests(doc: OpenApiDocument, ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(...operationsOf(doc).map(([method, template, op]) => {
    const parameters = op.requestBody ? op.parameters ?? [] : op.parameters ?? [];
    const bodySchema = op.requestBody?.content?.['application/json']?.schema;
    return fc.record({
      method: fc.oneof({ weight: 8, arbitrary: fc.constant(method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
      path: pathFor(template, parameters, doc, ctx),
      query: queryString(parameters, doc, ctx),
      auth: authHeader(ctx),
      body: bodies(bodySchema, doc, ctx),
      contentType: fc.oneof({ weight: 6, arbitrary: fc.constant('application/json') }, { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) }, { weight: 1, arbitrary: fc.constant(undefined) }),
      // Without a body, a content type now and then (Fastify refuses an empty JSON body).
      typeWithoutBody: fc.nat({ max: 3 }).map((n) => n === 0),
      upgrade: fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: upgradeHeaders }),
    }).map(({ method: m, path, query, auth, body, contentType, typeWithoutBody, upgrade }) => ({
      method: m,
      path: path + query,
      headers: {
        ...(auth !== undefined ? { authorization: auth } : {}),
        ...(contentType !== undefined && (body !== undefined || typeWithoutBody) ? { 'content-type': contentType } : {}),
        ...upgrade,
      },
      ...(body !== undefined ? { body } : {}),
      operation: `${method} ${template}`,
    }));
  }));
}
