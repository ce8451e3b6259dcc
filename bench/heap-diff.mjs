// node bench/heap-diff.mjs <before.heapsnapshot> <after.heapsnapshot> <accounts> [rows, default 60]
//
// What a worker's accounts added to its JavaScript heap, per account, grouped by what holds it.
// Take the two snapshots with bench:scale (BENCH_HEAP_SNAPSHOT_DIR, BENCH_ACCOUNTS=1000: one before
// the accounts, one once they are IDLE). V8 keeps an object's id across the snapshots of one
// process, so the objects of the second whose id the first lacks are the ones that came since.
// Each is grouped by its kind and name and by the first object that holds it (skipping weak
// references, preferring a holder that is not V8's own bookkeeping) with the property it is held
// by: "Buffer <- Object .session" says where to look, where a count of Buffers would not.
// (docs/benchmarks.md, "The session each connection was offered".) Needs memory: a snapshot of
// 1,000 TLS accounts is about 70 MB of JSON; run with --max-old-space-size=8000 if it runs out.

import { readFileSync } from 'node:fs';

const [beforeFile, afterFile, accountsText, rowsText] = process.argv.slice(2);
if (!afterFile || !Number(accountsText)) {
  console.error('usage: node bench/heap-diff.mjs <before.heapsnapshot> <after.heapsnapshot> <accounts> [rows]');
  process.exit(2);
}
const accounts = Number(accountsText);

/** The ids of every object of a snapshot. */
function idsOf(snapshot) {
  const fields = snapshot.snapshot.meta.node_fields;
  const idField = fields.indexOf('id');
  const ids = new Set();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) ids.add(snapshot.nodes[i + idField]);
  return ids;
}

const before = idsOf(JSON.parse(readFileSync(beforeFile, 'utf8')));
const after = JSON.parse(readFileSync(afterFile, 'utf8'));
const meta = after.snapshot.meta;
const nodeWidth = meta.node_fields.length;
const edgeWidth = meta.edge_fields.length;
const [nodeTypes] = meta.node_types;
const [edgeTypes] = meta.edge_types;
const field = (name) => meta.node_fields.indexOf(name);
const [TYPE, NAME, SIZE, ID, EDGES] = ['type', 'name', 'self_size', 'id', 'edge_count'].map(field);
const [EDGE_TYPE, EDGE_NAME, EDGE_TO] = ['type', 'name_or_index', 'to_node'].map((name) => meta.edge_fields.indexOf(name));
const { nodes, edges, strings } = after;
const count = nodes.length / nodeWidth;

const typeOf = (node) => nodeTypes[nodes[node * nodeWidth + TYPE]];
function label(node) {
  const type = typeOf(node);
  const name = strings[nodes[node * nodeWidth + NAME]];
  return `${type}:${type.includes('string') ? JSON.stringify(name.slice(0, 30)) : name.slice(0, 50)}`;
}

// The first holder of each object, and the property (or kind of reference) it is held by.
const holder = new Int32Array(count).fill(-1);
const heldBy = new Array(count);
let edge = 0;
for (let node = 0; node < count; node++) {
  const edgeCount = nodes[node * nodeWidth + EDGES];
  for (let k = 0; k < edgeCount; k++, edge += edgeWidth) {
    const kind = edgeTypes[edges[edge + EDGE_TYPE]];
    if (kind === 'weak') continue;
    const target = edges[edge + EDGE_TO] / nodeWidth;
    const better = holder[target] === -1 || (typeOf(holder[target]) === 'hidden' && typeOf(node) !== 'hidden');
    if (!better) continue;
    holder[target] = node;
    heldBy[target] = kind === 'element' || kind === 'hidden' ? `[${kind}]` : String(strings[edges[edge + EDGE_NAME]]).slice(0, 40);
  }
}

const groups = new Map();
let total = 0;
for (let node = 0; node < count; node++) {
  if (before.has(nodes[node * nodeWidth + ID])) continue;
  const size = nodes[node * nodeWidth + SIZE];
  const key = `${label(node)}  <-  ${holder[node] >= 0 ? `${label(holder[node])} .${heldBy[node]}` : '(root)'}`;
  const group = groups.get(key) ?? { objects: 0, bytes: 0 };
  group.objects++;
  group.bytes += size;
  groups.set(key, group);
  total += size;
}

console.log(`${(total / accounts).toFixed(0)} bytes per account in objects that came after the first snapshot\n`);
console.log('bytes/account  objects/account  object  <-  held by .property');
for (const [key, group] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(rowsText ?? 60))) {
  console.log(`${(group.bytes / accounts).toFixed(0).padStart(13)}  ${(group.objects / accounts).toFixed(2).padStart(15)}  ${key}`);
}
