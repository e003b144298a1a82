/**
 * A small SVG line-chart writer for the scripts' figures (training curves, gradient flow): panels
 * side by side, each with axes, ticks, labels, a legend and any number of series. Hand-written
 * because it is ~150 lines and a charting dependency would be far more; the output is plain
 * SVG 1.1 that browsers, rsvg-convert and ImageMagick all render.
 */

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: ReadonlyArray<readonly [number, number]>;
}

export interface PanelSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Force the y range to include these values (e.g. 0 for a loss). */
  yInclude?: readonly number[];
  yClamp?: readonly [number, number];
  /** Corner of the plot area that holds the legend; pick the one the curves tend to avoid. */
  legend?: 'top-right' | 'bottom-right';
}

const PANEL_W = 460;
const PANEL_H = 340;
const MARGIN = { left: 64, right: 16, top: 36, bottom: 52 };

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Round numbers for axis ticks: multiples of 1, 2 or 5 times a power of ten, about `target` of
 * them, with the first ≤ lo and the last ≥ hi so the ticks span every value.
 */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) {
    const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toFixed(12)));
  return ticks;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000 || a < 0.001) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

function panel(spec: PanelSpec, x0: number, y0: number): string {
  const w = PANEL_W - MARGIN.left - MARGIN.right;
  const h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const left = x0 + MARGIN.left;
  const top = y0 + MARGIN.top;
  const pts = spec.series.flatMap((s) => s.points);
  const xs = pts.map((p) => p[0]);
  const ys = [...pts.map((p) => p[1]), ...(spec.yInclude ?? [])];
  let xMin = xs.length ? Math.min(...xs) : 0;
  let xMax = xs.length ? Math.max(...xs) : 1;
  if (xMax - xMin < 1) {
    xMin = Math.max(0, xMin - 1);
    xMax = xMin + 2;
  }
  const xTicks = niceTicks(xMin, xMax, Math.min(8, Math.max(2, Math.round(xMax - xMin))));
  const yT = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1, 5);
  let yLo = yT[0];
  let yHi = yT[yT.length - 1];
  if (spec.yClamp) {
    yLo = Math.max(yLo, spec.yClamp[0]);
    yHi = Math.min(yHi, spec.yClamp[1]);
  }
  const yTicks = yT.filter((v) => v >= yLo - 1e-9 && v <= yHi + 1e-9);
  const xLo = Math.min(xTicks[0], xMin);
  const xHi = Math.max(xTicks[xTicks.length - 1], xMax);
  const sx = (v: number): number => left + ((v - xLo) / (xHi - xLo || 1)) * w;
  const sy = (v: number): number => top + h - ((v - yLo) / (yHi - yLo || 1)) * h;
  const f = (v: number): string => v.toFixed(1);
  const out: string[] = [];
  out.push(`<text x="${f(left + w / 2)}" y="${f(y0 + 22)}" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(spec.title)}</text>`);
  for (const v of yTicks) {
    out.push(`<line x1="${f(left)}" y1="${f(sy(v))}" x2="${f(left + w)}" y2="${f(sy(v))}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${f(left - 8)}" y="${f(sy(v) + 4)}" text-anchor="end" font-size="12">${fmtTick(v)}</text>`);
  }
  for (const v of xTicks) {
    if (v < xLo - 1e-9 || v > xHi + 1e-9) continue;
    out.push(`<line x1="${f(sx(v))}" y1="${f(top + h)}" x2="${f(sx(v))}" y2="${f(top + h + 5)}" stroke="#333"/>`);
    out.push(`<text x="${f(sx(v))}" y="${f(top + h + 19)}" text-anchor="middle" font-size="12">${fmtTick(v)}</text>`);
  }
  out.push(`<rect x="${f(left)}" y="${f(top)}" width="${f(w)}" height="${f(h)}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${f(left + w / 2)}" y="${f(top + h + 40)}" text-anchor="middle" font-size="13">${escapeXml(spec.xLabel)}</text>`);
  const yl = { x: x0 + 16, y: top + h / 2 };
  out.push(`<text x="${f(yl.x)}" y="${f(yl.y)}" text-anchor="middle" font-size="13" transform="rotate(-90 ${f(yl.x)} ${f(yl.y)})">${escapeXml(spec.yLabel)}</text>`);
  for (const s of spec.series) {
    if (s.points.length === 0) continue;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(sx(p[0]))},${f(sy(p[1]))}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const p of s.points) out.push(`<circle cx="${f(sx(p[0]))}" cy="${f(sy(p[1]))}" r="3" fill="${s.color}"/>`);
  }
  // On a white box so lines passing under it do not cross the text.
  const lw = 52 + 7 * Math.max(...spec.series.map((s) => s.label.length));
  const lh = 8 + 18 * spec.series.length;
  const lx = left + w - lw - 8;
  const ly = spec.legend === 'bottom-right' ? top + h - lh - 8 : top + 8;
  out.push(`<rect x="${f(lx)}" y="${f(ly)}" width="${lw}" height="${lh}" fill="white" fill-opacity="0.9" stroke="#999"/>`);
  spec.series.forEach((s, i) => {
    const yy = ly + 16 + 18 * i;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<line x1="${f(lx + 8)}" y1="${f(yy - 4)}" x2="${f(lx + 36)}" y2="${f(yy - 4)}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${f(lx + 44)}" y="${f(yy)}" font-size="12">${escapeXml(s.label)}</text>`);
  });
  return out.join('\n');
}

/** Panels laid out left to right, with an optional title line above them. */
export function renderPanels(panels: readonly PanelSpec[], title?: string): string {
  const head = title ? 28 : 0;
  const width = PANEL_W * panels.length;
  const height = PANEL_H + head;
  const body = panels.map((p, i) => panel(p, i * PANEL_W, head)).join('\n');
  const t = title ? `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>\n` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
<rect width="100%" height="100%" fill="white"/>
${t}${body}
</svg>
`;
}
