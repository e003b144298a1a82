/**
 * A small SVG line-chart writer for the scripts' figures (training curves, gradient flow):
 * one or more panels, each with axes, ticks, labels, a legend and any number of series.
 */

export interface Series {
  name: string;
  points: Array<[number, number]>;
  color: string;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Plot log10(y) with decade ticks. */
  logY?: boolean;
  yMin?: number;
  yMax?: number;
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** About 5 round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}

/** Renders panels side by side into one SVG document. */
export function renderChart(panels: Panel[], options: { panelWidth?: number; height?: number; title?: string } = {}): string {
  const pw = options.panelWidth ?? 460, h = options.height ?? 340;
  const top = options.title ? 30 : 0;
  const W = pw * panels.length;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h + top}" viewBox="0 0 ${W} ${h + top}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${h + top}" fill="white"/>`,
  ];
  if (options.title) out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(options.title)}</text>`);
  panels.forEach((p, i) => out.push(renderPanel(p, i * pw, top, pw, h)));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function renderPanel(p: Panel, x0: number, y0: number, w: number, h: number): string {
  const m = { l: 62, r: 16, t: 28, b: 44 };
  const pts = p.series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!p.logY || y > 0));
  const ty = (y: number): number => (p.logY ? Math.log10(y) : y);
  let xLo = Math.min(...pts.map(([x]) => x)), xHi = Math.max(...pts.map(([x]) => x));
  let yLo = p.yMin ?? Math.min(...pts.map(([, y]) => ty(y))), yHi = p.yMax ?? Math.max(...pts.map(([, y]) => ty(y)));
  if (p.logY && p.yMin !== undefined) yLo = ty(p.yMin);
  if (p.logY && p.yMax !== undefined) yHi = ty(p.yMax);
  if (!Number.isFinite(xLo)) { xLo = 0; xHi = 1; }
  if (!Number.isFinite(yLo)) { yLo = 0; yHi = 1; }
  if (xHi === xLo) xHi = xLo + 1;
  if (yHi === yLo) { yHi += 0.5; yLo -= 0.5; }
  if (p.logY) { yLo = Math.floor(yLo); yHi = Math.ceil(yHi); }
  const pl = x0 + m.l, pr = x0 + w - m.r, pt = y0 + m.t, pb = y0 + h - m.b;
  const sx = (x: number): number => pl + ((x - xLo) / (xHi - xLo)) * (pr - pl);
  const sy = (y: number): number => pb - ((y - yLo) / (yHi - yLo)) * (pb - pt);
  const o: string[] = [];
  o.push(`<text x="${(pl + pr) / 2}" y="${y0 + 18}" text-anchor="middle" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
  const yTicks = p.logY ? Array.from({ length: yHi - yLo + 1 }, (_, i) => yLo + i) : niceTicks(yLo, yHi);
  for (const t of yTicks) {
    o.push(`<line x1="${pl}" x2="${pr}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e5e5"/>`);
    o.push(`<text x="${pl - 6}" y="${sy(t) + 4}" text-anchor="end">${p.logY ? `1e${t}` : fmt(t)}</text>`);
  }
  for (const t of niceTicks(xLo, xHi)) {
    o.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${pb}" y2="${pb + 4}" stroke="#333"/>`);
    o.push(`<text x="${sx(t)}" y="${pb + 17}" text-anchor="middle">${fmt(t)}</text>`);
  }
  o.push(`<rect x="${pl}" y="${pt}" width="${pr - pl}" height="${pb - pt}" fill="none" stroke="#333"/>`);
  o.push(`<text x="${(pl + pr) / 2}" y="${pb + 36}" text-anchor="middle">${esc(p.xLabel)}</text>`);
  o.push(`<text transform="translate(${x0 + 16},${(pt + pb) / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`);
  for (const s of p.series) {
    const path = s.points.filter(([, y]) => Number.isFinite(y) && (!p.logY || y > 0)).map(([x, y], k) => `${k ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(ty(y)).toFixed(1)}`).join(' ');
    if (path) o.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''}/>`);
    if (s.points.length <= 60) {
      for (const [x, y] of s.points) if (Number.isFinite(y) && (!p.logY || y > 0)) o.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(ty(y)).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    }
  }
  p.series.forEach((s, k) => {
    const ly = pt + 14 + k * 16;
    o.push(`<line x1="${pr - 150}" x2="${pr - 128}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''}/>`);
    o.push(`<text x="${pr - 122}" y="${ly}">${esc(s.name)}</text>`);
  });
  return o.join('\n');
}
