/**
 * PyTorch-style printing: tensor([[1.0000, 2.5000], ...]) with one shared number format chosen
 * from all printed values (integers as "1.", fixed 4 decimals, or scientific when the magnitudes
 * span more than 1000× or leave [1e-4, 1e8); exact ties rounded to even, as Python's format does);
 * tensors over 1000 elements are summarised with "..." keeping 3 items at each edge, and long rows
 * wrap at 80 columns, as do the suffixes (dtype=, requires_grad=, grad_fn=).
 */
import type { Tensor } from './tensor';

const THRESHOLD = 1000;
const EDGE = 3;
const LINE_WIDTH = 80;

export function formatTensor(t: Tensor): string {
  const data = t.data;
  const shape = t.shape;
  const summarize = data.length > THRESHOLD;
  const values = summarize ? collectShown(data, shape) : Array.from(data);
  const fmt = chooseFormat(values);
  const prefix = 'tensor(';
  let body: string;
  if (shape.length === 0) body = fmt(data[0]);
  else if (data.length === 0) body = '[]';
  else {
    // As torch's _Formatter: the column width comes from the nonzero finite values only, so nan, ±inf
    // and -0 are printed as they are and never widen the columns.
    const width = Math.max(1, ...values.filter((v) => v !== 0 && Number.isFinite(v)).map((v) => fmt(v).length));
    body = formatDim(data, shape, 0, 0, fmt, width, prefix.length, summarize);
  }
  const suffix: string[] = [];
  if (data.length === 0 && shape.length > 0 && !(shape.length === 1 && shape[0] === 0)) suffix.push(`size=(${shape.join(', ')})`);
  if (t.dtype === 'float64') suffix.push('dtype=float64');
  if (t.gradFn) suffix.push(`grad_fn=<${t.gradFn.name}>`);
  else if (t.requiresGrad) suffix.push('requires_grad=True');
  return addSuffixes(prefix + body, suffix, prefix.length);
}

/**
 * torch's _add_suffixes: each suffix goes after ', ' unless that would pass LINE_WIDTH, then on a
 * line of its own indented to the opening bracket. Like torch, the last line counts 2 more than its
 * length.
 */
function addSuffixes(s: string, suffixes: readonly string[], indent: number): string {
  let out = s;
  let lastLineLen = s.length - s.lastIndexOf('\n') + 1;
  for (const suffix of suffixes) {
    if (lastLineLen + suffix.length + 2 > LINE_WIDTH) {
      out += `,\n${' '.repeat(indent)}${suffix}`;
      lastLineLen = indent + suffix.length;
    } else {
      out += `, ${suffix}`;
      lastLineLen += suffix.length + 2;
    }
  }
  return `${out})`;
}

function collectShown(data: ArrayLike<number>, shape: readonly number[]): number[] {
  const out: number[] = [];
  const strides: number[] = [];
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) { strides[i] = s; s *= shape[i]; }
  const rec = (d: number, base: number): void => {
    if (d === shape.length) { out.push(data[base]); return; }
    const n = shape[d];
    const idx = n > 2 * EDGE ? [...range(0, EDGE), ...range(n - EDGE, n)] : range(0, n);
    for (const i of idx) rec(d + 1, base + i * strides[d]);
  };
  rec(0, 0);
  return out;
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

function chooseFormat(values: number[]): (v: number) => string {
  const finite = values.filter((v) => Number.isFinite(v));
  const special = (v: number): string | null => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : null);
  // JS drops the sign of -0 in toFixed/toExponential; Python's format (and so torch) keeps it.
  const signed = (v: number, s: string): string => (Object.is(v, -0) ? `-${s}` : s);
  const sci = (v: number): string => special(v) ?? signed(v, exponential4(v).replace(/e([+-])(\d)$/, 'e$10$2'));
  if (finite.length === 0) return (v) => special(v) ?? String(v);
  const abs = finite.map(Math.abs);
  const maxA = Math.max(...abs);
  const nonzero = abs.filter((v) => v !== 0);
  const minA = nonzero.length ? Math.min(...nonzero) : 0;
  const allInt = finite.every((v) => Number.isInteger(v));
  if (allInt) {
    if (maxA > 1e8 || (minA !== 0 && maxA / minA > 1000)) return sci;
    return (v) => special(v) ?? signed(v, `${v.toFixed(0)}.`);
  }
  if (maxA > 1e8 || (minA !== 0 && minA < 1e-4) || (minA !== 0 && maxA / minA > 1000)) return sci;
  return (v) => special(v) ?? signed(v, fixed4(v));
}

// Python's format (and so torch's printing) rounds a value exactly halfway between two candidates
// to the one with an even last digit; JS's toFixed and toExponential take the larger magnitude
// ('{:.4f}'.format(0.03125) is 0.0312, (0.03125).toFixed(4) is 0.0313). These two redo such ties.

/** v.toFixed(4) with Python's rounding of ties. */
function fixed4(v: number): string {
  const s = v.toFixed(4);
  const digits = BigInt(s.replace(/^-/, '').replace('.', ''));
  const even = halfEven(Math.abs(v), digits, -4);
  if (even === digits) return s;
  const d = even.toString().padStart(5, '0');
  return `${v < 0 ? '-' : ''}${d.slice(0, -4)}.${d.slice(-4)}`;
}

/** v.toExponential(4) with Python's rounding of ties. */
function exponential4(v: number): string {
  const s = v.toExponential(4);
  const [mantissa, exponent] = s.replace(/^-/, '').split('e');
  const digits = BigInt(mantissa.replace('.', ''));
  const even = halfEven(Math.abs(v), digits, Number(exponent) - 4);
  if (even === digits) return s;
  const d = even.toString();
  return `${v < 0 ? '-' : ''}${d[0]}.${d.slice(1)}e${exponent}`;
}

/**
 * The digits to print for a > 0 when JS printed `digits`·10^p: digits − 1 if a lies exactly halfway
 * between that and (digits − 1)·10^p and digits is odd, else digits (a is compared exactly, as
 * mantissa·2^exponent, so only true ties move).
 */
function halfEven(a: number, digits: bigint, p: number): bigint {
  if (digits % 2n === 0n || a === 0) return digits;
  const bits = new DataView(new ArrayBuffer(8));
  bits.setFloat64(0, a);
  const hi = bits.getUint32(0), biased = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(bits.getUint32(4));
  let e = -1074;
  if (biased !== 0) {
    m |= 1n << 52n;
    e = biased - 1075;
  }
  // a == (digits − 1/2)·10^p  ⇔  2m·2^e·10^−p == 2·digits − 1
  let lhs = 2n * m, rhs = 2n * digits - 1n;
  if (e >= 0) lhs <<= BigInt(e); else rhs <<= BigInt(-e);
  if (p <= 0) lhs *= 10n ** BigInt(-p); else rhs *= 10n ** BigInt(p);
  return lhs === rhs ? digits - 1n : digits;
}

function formatDim(
  data: ArrayLike<number>, shape: readonly number[], d: number, base: number,
  fmt: (v: number) => string, width: number, indent: number, summarize: boolean,
): string {
  let stride = 1;
  for (let i = d + 1; i < shape.length; i++) stride *= shape[i];
  const n = shape[d];
  const cut = summarize && n > 2 * EDGE;
  const idx = cut ? [...range(0, EDGE), -1, ...range(n - EDGE, n)] : range(0, n);
  if (d === shape.length - 1) {
    const items = idx.map((i) => (i < 0 ? ' ...' : fmt(data[base + i]).padStart(width)));
    // Wrap long rows the way PyTorch does: as many items per line as fit in LINE_WIDTH.
    const perLine = Math.max(1, Math.floor((LINE_WIDTH - indent) / (width + 2)));
    const lines: string[] = [];
    for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
    return `[${lines.join(',\n' + ' '.repeat(indent + 1))}]`;
  }
  const parts = idx.map((i) => (i < 0 ? '...' : formatDim(data, shape, d + 1, base + i * stride, fmt, width, indent + 1, summarize)));
  const sep = ',' + '\n'.repeat(shape.length - d - 1) + ' '.repeat(indent + 1);
  return `[${parts.join(sep)}]`;
}
