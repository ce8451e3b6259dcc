// Draws the app's PNG icons from a few shapes, with node's zlib and nothing else, so they can be
// made again anywhere (no network, no image tools): `node pwa/tools/make-icons.mjs`.
// The PNGs are committed; run this only after changing the drawing.
//
// Each pixel is the average of 4×4 samples (anti-aliasing). A maskable icon has a full-bleed
// background and keeps the glyph inside the central 80 % "safe zone" that every mask shape shows.

import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const BLUE = [29, 78, 216, 255];
const WHITE = [255, 255, 255, 255];
const AMBER = [245, 158, 11, 255];
const CLEAR = [0, 0, 0, 0];

const inRoundedSquare = (x, y, radius) => {
  const cx = Math.min(Math.max(x, radius), 1 - radius);
  const cy = Math.min(Math.max(y, radius), 1 - radius);
  return (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2;
};

/** Distance from (px, py) to the segment (ax, ay)–(bx, by). */
function segmentDistance(px, py, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

/** The glyph in unit coordinates: an envelope with a "new" dot. Returns a colour or undefined. */
function glyph(x, y, { ink, paper, dot }) {
  const dotDistance = Math.hypot(x - 0.75, y - 0.31);
  if (dotDistance <= 0.095) return dot;
  if (dotDistance <= 0.13) return paper === CLEAR ? undefined : paper; // a ring that separates dot and envelope
  const inEnvelope = x >= 0.2 && x <= 0.8 && y >= 0.31 && y <= 0.71;
  if (!inEnvelope) return undefined;
  const flap = Math.min(segmentDistance(x, y, 0.2, 0.31, 0.5, 0.53), segmentDistance(x, y, 0.8, 0.31, 0.5, 0.53));
  return flap <= 0.028 ? paper : ink;
}

function render(size, shade) {
  const pixels = Buffer.alloc(size * size * 4);
  const samples = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const sum = [0, 0, 0, 0];
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const colour = shade((px + (sx + 0.5) / samples) / size, (py + (sy + 0.5) / samples) / size);
          // Premultiplied, so transparent samples do not darken the edges.
          for (let c = 0; c < 3; c++) sum[c] += colour[c] * colour[3];
          sum[3] += colour[3];
        }
      }
      const n = samples * samples;
      const offset = (py * size + px) * 4;
      const alpha = sum[3] / n;
      for (let c = 0; c < 3; c++) pixels[offset + c] = alpha ? Math.round(sum[c] / sum[3]) : 0;
      pixels[offset + 3] = Math.round(alpha);
    }
  }
  return pixels;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buffer) {
  let c = 0xffffffff;
  for (const byte of buffer) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** An 8-bit RGBA PNG, one filter byte (none) per row. */
function png(size, rgba) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8);
  const rows = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) rgba.copy(rows, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const colours = { ink: WHITE, paper: BLUE, dot: AMBER };
const standard = (x, y) => (inRoundedSquare(x, y, 0.22) ? glyph(x, y, colours) ?? BLUE : CLEAR);
// Scaled to 80 % around the centre: the whole glyph stays inside the maskable safe zone.
const maskable = (x, y) => glyph(0.5 + (x - 0.5) / 0.8, 0.5 + (y - 0.5) / 0.8, colours) ?? BLUE;
// Notification badge: Android shows only its alpha channel, so white on transparent.
const badge = (x, y) => glyph(x, y, { ink: WHITE, paper: CLEAR, dot: WHITE }) ?? CLEAR;

const out = new URL('../static/icons/', import.meta.url);
const icons = [
  ['icon-192.png', 192, standard],
  ['icon-512.png', 512, standard],
  ['icon-maskable-192.png', 192, maskable],
  ['icon-maskable-512.png', 512, maskable],
  // iOS ignores the manifest's icons and rounds the corners itself: full bleed, no transparency
  // (which it would fill with black), at the 180 px it asks for.
  ['apple-touch-icon.png', 180, maskable],
  ['badge-96.png', 96, badge],
];
for (const [name, size, shade] of icons) {
  writeFileSync(new URL(name, out), png(size, render(size, shade)));
  console.log(`wrote pwa/static/icons/${name}`);
}
