/**
 * Horizontal grouped bar charts as hand-written SVG (no dependencies): one
 * row per bar, grouped under a bold heading, with a min-max whisker and the
 * value printed after the bar. Optionally a dashed reference line (1.0 on
 * ratio charts).
 */

export interface Bar {
  label: string;
  value: number;
  min?: number;
  max?: number;
  /** Printed after the value, e.g. "failed". */
  note?: string;
}

export interface BarGroup {
  label: string;
  bars: Bar[];
}

export interface BarChart {
  title: string;
  subtitle?: string;
  /** Axis caption and the suffix of printed values. */
  unit: string;
  groups: BarGroup[];
  /** Draws a dashed vertical line at this value (e.g. 1 for ratios). */
  reference?: number;
  referenceLabel?: string;
}

/** One colour per contender (and per side of the core benchmark); others cycle. */
const COLOURS: Record<string, string> = {
  'node:tls': '#7f7f7f',
  'memtls/tls': '#1f77b4',
  'memtls/protocol': '#2ca02c',
  net: '#ff7f0e',
  'JS (engine)': '#1f77b4',
  'C++ ceiling': '#7f7f7f',
};
const CYCLE = ['#1f77b4', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

function colour(label: string, index: number): string {
  return COLOURS[label] ?? CYCLE[index % CYCLE.length];
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return '-';
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** A "nice" axis maximum and tick step above `max`. */
function axis(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const rough = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  return { top: Math.ceil(max / step) * step, step };
}

export function renderBarChart(chart: BarChart): string {
  const width = 960;
  const labelWidth = 300;
  const valueWidth = 130;
  const plotLeft = labelWidth + 10;
  const plotWidth = width - plotLeft - valueWidth;
  const barHeight = 14;
  const rowGap = 4;
  const groupHeader = 20;
  const groupGap = 8;
  const top = chart.subtitle ? 62 : 46;

  let maxValue = chart.reference ?? 0;
  for (const group of chart.groups) {
    for (const bar of group.bars) {
      for (const v of [bar.value, bar.max ?? 0]) if (Number.isFinite(v)) maxValue = Math.max(maxValue, v);
    }
  }
  const { top: axisTop, step } = axis(maxValue * 1.02);
  const x = (v: number): number => plotLeft + (Math.max(0, v) / axisTop) * plotWidth;

  const parts: string[] = [];
  let y = top;
  for (const group of chart.groups) {
    parts.push(`<text x="8" y="${y + 14}" font-weight="bold">${escapeXml(group.label)}</text>`);
    y += groupHeader;
    group.bars.forEach((bar, index) => {
      const mid = y + barHeight / 2;
      parts.push(`<text x="${labelWidth}" y="${mid + 4}" text-anchor="end">${escapeXml(bar.label)}</text>`);
      if (Number.isFinite(bar.value)) {
        const w = Math.max(1, x(bar.value) - plotLeft);
        parts.push(`<rect x="${plotLeft}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${colour(bar.label, index)}"/>`);
        if (bar.min !== undefined && bar.max !== undefined && Number.isFinite(bar.min) && Number.isFinite(bar.max)) {
          const x1 = x(bar.min).toFixed(1);
          const x2 = x(bar.max).toFixed(1);
          parts.push(`<line x1="${x1}" y1="${mid}" x2="${x2}" y2="${mid}" stroke="#222" stroke-width="1"/>`);
          parts.push(`<line x1="${x1}" y1="${y + 3}" x2="${x1}" y2="${y + barHeight - 3}" stroke="#222"/>`);
          parts.push(`<line x1="${x2}" y1="${y + 3}" x2="${x2}" y2="${y + barHeight - 3}" stroke="#222"/>`);
        }
      }
      const text = Number.isFinite(bar.value) ? formatValue(bar.value) : '';
      const note = bar.note ? ` ${bar.note}` : '';
      const tx = Number.isFinite(bar.value) ? Math.max(x(bar.value), x(bar.max ?? 0)) + 6 : plotLeft + 6;
      parts.push(`<text x="${tx.toFixed(1)}" y="${mid + 4}">${escapeXml(text + note)}</text>`);
      y += barHeight + rowGap;
    });
    y += groupGap;
  }
  const plotBottom = y;

  const grid: string[] = [];
  for (let v = 0; v <= axisTop + step / 1e6; v += step) {
    const gx = x(v).toFixed(1);
    grid.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${plotBottom}" stroke="#ddd"/>`);
    grid.push(`<text x="${gx}" y="${plotBottom + 14}" text-anchor="middle" fill="#555">${formatValue(v)}</text>`);
  }
  if (chart.reference !== undefined) {
    const rx = x(chart.reference).toFixed(1);
    grid.push(`<line x1="${rx}" y1="${top - 4}" x2="${rx}" y2="${plotBottom}" stroke="#d62728" stroke-dasharray="4 3"/>`);
    if (chart.referenceLabel) grid.push(`<text x="${rx}" y="${top - 8}" text-anchor="middle" fill="#d62728">${escapeXml(chart.referenceLabel)}</text>`);
  }
  const height = plotBottom + 34;
  const header = [
    `<text x="8" y="20" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
    chart.subtitle ? `<text x="8" y="38" fill="#444">${escapeXml(chart.subtitle)}</text>` : '',
    `<text x="${plotLeft + plotWidth / 2}" y="${plotBottom + 30}" text-anchor="middle" fill="#333">${escapeXml(chart.unit)}</text>`,
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...header,
    ...grid,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
