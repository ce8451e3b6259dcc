// Hand-written SVG charts, so a benchmark can draw its own result for docs/ with no dependency.

import { writeFileSync } from 'node:fs';

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1'];
const FONT = 'font-family="system-ui, sans-serif"';

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A "nice" axis maximum at or above `value`. */
function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function label(value: number): string {
  if (value >= 1000) return `${+(value / 1000).toFixed(1)}k`;
  return String(+value.toFixed(value < 10 ? 2 : 1));
}

export interface BarGroup {
  label: string;
  bars: Array<{ label: string; value: number }>;
}

/**
 * Horizontal grouped bars: one group per scenario, one bar per measure (same order in every
 * group, one colour each), an optional dashed line per goal.
 */
export function barChart(file: string, chart: { title: string; unit: string; groups: BarGroup[]; goals?: Array<{ label: string; value: number }> }): void {
  const width = 760;
  const left = 190;
  const right = 90;
  const barH = 18;
  const gap = 14;
  const top = 56;
  const names = chart.groups[0]?.bars.map((b) => b.label) ?? [];
  const values = chart.groups.flatMap((g) => g.bars.map((b) => b.value)).filter(Number.isFinite);
  const max = niceMax(Math.max(...values, ...(chart.goals ?? []).map((g) => g.value)));
  const plotW = width - left - right;
  const x = (v: number) => left + (Math.max(0, v) / max) * plotW;
  let y = top;
  const parts: string[] = [];
  for (const group of chart.groups) {
    parts.push(`<text x="${left - 10}" y="${y + (group.bars.length * barH) / 2 + 4}" text-anchor="end" font-size="13" ${FONT}>${esc(group.label)}</text>`);
    group.bars.forEach((bar, i) => {
      const w = Number.isFinite(bar.value) ? x(bar.value) - left : 0;
      parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH - 3}" fill="${COLORS[i % COLORS.length]}"/>`);
      parts.push(`<text x="${left + w + 4}" y="${y + barH - 7}" font-size="11" ${FONT}>${Number.isFinite(bar.value) ? label(bar.value) : 'n/a'} ${esc(chart.unit)}</text>`);
      y += barH;
    });
    y += gap;
  }
  const bottom = y;
  const axis: string[] = [`<line x1="${left}" y1="${top - 6}" x2="${left}" y2="${bottom - gap + 4}" stroke="#333"/>`];
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    axis.push(`<text x="${x(v)}" y="${bottom + 8}" text-anchor="middle" font-size="11" fill="#555" ${FONT}>${label(v)}</text>`);
    axis.push(`<line x1="${x(v)}" y1="${top - 6}" x2="${x(v)}" y2="${bottom - gap + 4}" stroke="#ddd"/>`);
  }
  for (const goal of chart.goals ?? []) {
    axis.push(`<line x1="${x(goal.value)}" y1="${top - 10}" x2="${x(goal.value)}" y2="${bottom - gap + 4}" stroke="#c00" stroke-dasharray="5,4"/>`);
    axis.push(`<text x="${x(goal.value) + 3}" y="${top - 12}" font-size="11" fill="#c00" ${FONT}>${esc(goal.label)}</text>`);
  }
  const legend = names.map((name, i) => `<rect x="${left + i * 150}" y="${bottom + 22}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${left + i * 150 + 17}" y="${bottom + 32}" font-size="12" ${FONT}>${esc(name)}</text>`);
  const height = bottom + 48;
  writeFileSync(file, `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
<rect width="100%" height="100%" fill="#fff"/>
<text x="16" y="26" font-size="16" font-weight="bold" ${FONT}>${esc(chart.title)}</text>
${[...axis, ...parts, ...legend].join('\n')}
</svg>
`);
}

/** Lines over a shared x axis, e.g. connections up over time. */
export function lineChart(file: string, chart: { title: string; xLabel: string; yLabel: string; series: Array<{ label: string; points: Array<[number, number]> }> }): void {
  const width = 760;
  const height = 380;
  const left = 70;
  const right = 20;
  const top = 50;
  const bottom = 60;
  const all = chart.series.flatMap((s) => s.points);
  const maxX = niceMax(Math.max(...all.map((p) => p[0])));
  const maxY = niceMax(Math.max(...all.map((p) => p[1])));
  const x = (v: number) => left + (v / maxX) * (width - left - right);
  const y = (v: number) => height - bottom - (v / maxY) * (height - top - bottom);
  const parts: string[] = [];
  for (let i = 0; i <= 5; i++) {
    const vx = (maxX / 5) * i;
    const vy = (maxY / 5) * i;
    parts.push(`<line x1="${x(vx)}" y1="${top}" x2="${x(vx)}" y2="${height - bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${x(vx)}" y="${height - bottom + 16}" text-anchor="middle" font-size="11" fill="#555" ${FONT}>${label(vx)}</text>`);
    parts.push(`<line x1="${left}" y1="${y(vy)}" x2="${width - right}" y2="${y(vy)}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 6}" y="${y(vy) + 4}" text-anchor="end" font-size="11" fill="#555" ${FONT}>${label(vy)}</text>`);
  }
  parts.push(`<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="#333"/>`);
  parts.push(`<text x="${(left + width - right) / 2}" y="${height - bottom + 36}" text-anchor="middle" font-size="12" ${FONT}>${esc(chart.xLabel)}</text>`);
  parts.push(`<text x="16" y="${(top + height - bottom) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 16 ${(top + height - bottom) / 2})" ${FONT}>${esc(chart.yLabel)}</text>`);
  chart.series.forEach((series, i) => {
    const d = series.points.map(([px, py], j) => `${j ? 'L' : 'M'}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`);
    parts.push(`<rect x="${left + 10 + i * 200}" y="${height - 18}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${left + 27 + i * 200}" y="${height - 8}" font-size="12" ${FONT}>${esc(series.label)}</text>`);
  });
  writeFileSync(file, `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
<rect width="100%" height="100%" fill="#fff"/>
<text x="16" y="26" font-size="16" font-weight="bold" ${FONT}>${esc(chart.title)}</text>
${parts.join('\n')}
</svg>
`);
}
