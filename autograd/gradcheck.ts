/**
 * gradcheck: compares the tape's gradients with central finite differences in float64.
 * Small problems get the full Jacobian (one backward per output element, two forwards per input
 * element); large ones random projections vᵀJu, which catch a wrong gradient with probability 1
 * while costing one backward and two forwards per projection. fn may return several tensors, as
 * torch's gradcheck takes a tuple: the outputs that require grad are checked as one concatenated output.
 */
import { checkKnownKeys, fail, fmtShape, fmtValue } from '../lib/core/errors';
import { Random } from '../lib/random';
import { grad, noGrad } from './tape';
import { Tensor } from './tensor';

export interface GradcheckOptions {
  /** Finite-difference step. */
  eps?: number;
  /** Element passes when |analytic − numeric| <= atol + rtol·|numeric|. */
  atol?: number;
  rtol?: number;
  /** Full Jacobian when outputs <= this many elements ... */
  maxFullOutputs?: number;
  /** ... and the input has <= this many elements; otherwise projections. */
  maxFullInputs?: number;
  /** Random projections per input in projected mode. */
  projections?: number;
  /** Seed of the projection vectors. */
  seed?: number;
}

export interface GradcheckInputReport {
  index: number;
  shape: number[];
  mode: 'full' | 'projected';
  /** Entries (full) or projections compared. */
  checked: number;
  maxAbsError: number;
  maxRelError: number;
  passed: boolean;
  /** Worst entry: [output index, input index] in full mode, projection number otherwise. */
  worst: { analytic: number; numeric: number; where: string } | null;
}

export interface GradcheckReport {
  passed: boolean;
  inputs: GradcheckInputReport[];
}

/** fn returns one tensor or several (torch's tuple of outputs); outputs that do not require grad are not checked. */
type Fn = (...inputs: Tensor[]) => Tensor | readonly Tensor[];

const RETURN_MSG = 'fn must return a Tensor or a non-empty array of Tensors';

/** fn's result as a list, or null when it is neither a Tensor nor a non-empty array of them. */
function outputsOf(r: unknown): Tensor[] | null {
  if (r instanceof Tensor) return [r];
  if (Array.isArray(r) && r.length > 0 && r.every((t) => t instanceof Tensor)) return r as Tensor[];
  return null;
}

/** Storage index of logical element k of t (row-major over t's shape). */
function storageIndex(t: Tensor, k: number): number {
  let idx = t.offset;
  for (let d = t.shape.length - 1; d >= 0; d--) {
    const n = t.shape[d];
    idx += (k % n) * t.strides[d];
    k = Math.floor(k / n);
  }
  return idx;
}

/**
 * Whether two logical elements of t share a storage location (a stride-0 dim of an expand(), or
 * an as_strided view whose windows overlap): perturbing one would perturb the other too.
 */
function hasOverlap(t: Tensor): boolean {
  const n = t.numel();
  if (t.isContiguous() || n <= 1) return false;
  const seen = new Uint8Array(t.storage.length);
  for (let k = 0; k < n; k++) {
    const s = storageIndex(t, k);
    if (seen[s]) return true;
    seen[s] = 1;
  }
  return false;
}

const GRADCHECK_KEYS: readonly string[] = ['eps', 'atol', 'rtol', 'maxFullOutputs', 'maxFullInputs', 'projections', 'seed'];

export function gradcheck(fn: Fn, inputs: readonly Tensor[], options: GradcheckOptions = {}): GradcheckReport {
  const op = 'gradcheck';
  checkKnownKeys(op, options, GRADCHECK_KEYS);
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-3;
  const maxFullOutputs = options.maxFullOutputs ?? 256;
  const maxFullInputs = options.maxFullInputs ?? 2048;
  const projections = options.projections ?? 3;
  const rng = new Random(options.seed ?? 1234);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) fail(op, `eps must be a finite number > 0, got ${fmtValue(eps)}`);
  for (const [name, v] of [['atol', atol], ['rtol', rtol]] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(op, `${name} must be a finite number >= 0, got ${fmtValue(v)}`);
  }
  if (!Number.isInteger(projections) || projections < 1) fail(op, `projections must be an integer >= 1, got ${fmtValue(projections)}`);
  if (typeof fn !== 'function') fail(op, `fn must be a function, got ${fmtValue(fn)}`);
  if (!Array.isArray(inputs)) fail(op, `inputs must be an array of Tensors, got ${fmtValue(inputs)}`);
  inputs.forEach((t, i) => {
    if (!(t instanceof Tensor)) fail(op, `inputs[${i}] must be a Tensor, got ${fmtValue(t)}`);
    if (t.requiresGrad && t.dtype !== 'float64') {
      fail(op, `inputs[${i}] (shape ${fmtShape(t.shape)}) is ${t.dtype}; finite differences need float64 inputs`);
    }
    if (t.requiresGrad && !t.isLeaf) fail(op, `inputs[${i}] must be a leaf tensor (use .detach().requiresGrad_())`);
    if (t.requiresGrad && hasOverlap(t)) {
      fail(op, `input ${i} of shape ${fmtShape(t.shape)} has overlapping memory (strides ${fmtShape(t.strides)}); pass a contiguous copy (x.contiguous())`);
    }
  });
  const diff = inputs.map((t, i) => ({ t, i })).filter(({ t }) => t.requiresGrad);
  if (diff.length === 0) fail(op, 'no input requires grad');
  return compareAll(fn, inputs, diff, { eps, atol, rtol, maxFullOutputs, maxFullInputs, projections, rng });
}

interface Resolved {
  eps: number; atol: number; rtol: number; maxFullOutputs: number; maxFullInputs: number; projections: number; rng: Random;
}

function compareAll(fn: Fn, inputs: readonly Tensor[], diff: { t: Tensor; i: number }[], o: Resolved): GradcheckReport {
  const { eps, atol, rtol, maxFullOutputs, maxFullInputs, projections, rng } = o;
  const raw: unknown = fn(...inputs);
  const all = outputsOf(raw);
  if (all === null) fail('gradcheck', `${RETURN_MSG}, got ${fmtValue(raw)}`);
  const single = raw instanceof Tensor;
  // Outputs that do not require grad (indices, detached values) are skipped, as torch does.
  const picked = all.map((y, o) => ({ y, o })).filter(({ y }) => y.requiresGrad);
  if (picked.length === 0) {
    fail('gradcheck', single ? 'fn output does not require grad (is it connected to the inputs?)' : 'no output of fn requires grad (are they connected to the inputs?)');
  }
  for (const { y, o } of picked) {
    if (y.dtype !== 'float64') fail('gradcheck', `fn returned a ${y.dtype} tensor${single ? '' : ` as output ${o}`}; finite differences need float64`);
  }
  const ys = picked.map(({ y }) => y);
  // The checked outputs' elements, one after the other: global element j is element j − start[q] of ys[q].
  const start: number[] = [];
  let m = 0;
  for (const y of ys) {
    start.push(m);
    m += y.numel();
  }
  const name = (j: number): string => {
    let q = ys.length - 1;
    while (start[q] > j) q--;
    return single ? `out[${j}]` : `out${picked[q].o}[${j - start[q]}]`;
  };
  const evalOut = (): Float64Array => {
    const r = noGrad(() => outputsOf(fn(...inputs)));
    const out = new Float64Array(m);
    picked.forEach(({ y, o }, q) => {
      const d = r !== null && r.length === all.length ? r[o].data : null;
      if (d === null || d.length !== y.numel()) fail('gradcheck', `fn returned outputs of other shapes when called again on perturbed inputs`);
      out.set(d, start[q]);
    });
    return out;
  };
  const diffTensors = diff.map(({ t }) => t);
  /**
   * Input gradients of Σ_q seeds[q]·ys[q] (a null seed skips that output). grad() writes no .grad, so
   * the inputs' and those of tensors fn captures (a module's parameters) stay as they were, as torch's.
   */
  const grads = (seeds: (Tensor | null)[]): Float64Array[] => {
    const q = seeds.flatMap((s, k) => (s === null ? [] : [k]));
    const gs = grad(q.map((k) => ys[k]), diffTensors, { gradOutputs: q.map((k) => seeds[k]), retainGraph: true, allowUnused: true });
    return gs.map((g, k) => (g ? Float64Array.from(g.data) : new Float64Array(diffTensors[k].numel())));
  };

  // Analytic Jacobian rows, one backward per output element, only when it is affordable.
  let rows: Float64Array[][] | null = null;
  if (m <= maxFullOutputs) {
    rows = [];
    ys.forEach((y, q) => {
      for (let j = 0; j < y.numel(); j++) {
        const seed = Tensor.empty(y.shape, 'float64');
        seed.storage[j] = 1;
        rows!.push(grads(ys.map((_, p) => (p === q ? seed : null))));
      }
    });
  }

  const reports: GradcheckInputReport[] = [];
  diff.forEach(({ t, i }, di) => {
    const n = t.numel();
    const rep: GradcheckInputReport = {
      index: i, shape: [...t.shape], mode: 'full', checked: 0, maxAbsError: 0, maxRelError: 0, passed: true, worst: null,
    };
    let worstScore = -Infinity;
    const compare = (a: number, num: number, where: string): void => {
      const err = Math.abs(a - num);
      const rel = err / Math.max(Math.abs(num), 1e-300);
      rep.checked++;
      rep.maxAbsError = Math.max(rep.maxAbsError, err);
      if (err > 0) rep.maxRelError = Math.max(rep.maxRelError, rel);
      const ok = err <= atol + rtol * Math.abs(num) && Number.isFinite(a) === Number.isFinite(num);
      let score = err - (atol + rtol * Math.abs(num));
      // A NaN or infinite entry (score NaN or ∞) ranks above any finite mismatch: the first one is the worst.
      if (!ok && !Number.isFinite(score)) score = Infinity;
      if (!ok) rep.passed = false;
      if (score > worstScore) {
        worstScore = score;
        rep.worst = { analytic: a, numeric: num, where };
      }
    };
    if (rows !== null && n <= maxFullInputs) {
      for (let k = 0; k < n; k++) {
        const s = storageIndex(t, k);
        const orig = t.storage[s];
        let plus: Float64Array, minus: Float64Array;
        try { // put the element back even when fn throws on the perturbed input
          t.storage[s] = orig + eps;
          plus = evalOut();
          t.storage[s] = orig - eps;
          minus = evalOut();
        } finally {
          t.storage[s] = orig;
        }
        for (let j = 0; j < m; j++) compare(rows[j][di][k], (plus[j] - minus[j]) / (2 * eps), `d ${name(j)} / d in[${k}]`);
      }
    } else {
      rep.mode = 'projected';
      for (let p = 0; p < projections; p++) {
        const vs = ys.map((y) => Tensor.empty(y.shape, 'float64'));
        const v = new Float64Array(m);
        for (let j = 0; j < m; j++) v[j] = rng.normal();
        vs.forEach((vq, q) => vq.storage.set(v.subarray(start[q], start[q] + vq.numel())));
        const u = new Float64Array(n);
        for (let k = 0; k < n; k++) u[k] = rng.normal();
        const g = grads(vs)[di];
        let analytic = 0;
        for (let k = 0; k < n; k++) analytic += g[k] * u[k];
        const orig = new Float64Array(n);
        for (let k = 0; k < n; k++) orig[k] = t.storage[storageIndex(t, k)];
        const shift = (sgn: number): Float64Array => {
          for (let k = 0; k < n; k++) t.storage[storageIndex(t, k)] = orig[k] + sgn * eps * u[k];
          return evalOut();
        };
        let plus: Float64Array, minus: Float64Array;
        try {
          plus = shift(1);
          minus = shift(-1);
        } finally {
          for (let k = 0; k < n; k++) t.storage[storageIndex(t, k)] = orig[k];
        }
        let numeric = 0;
        for (let j = 0; j < m; j++) numeric += v[j] * (plus[j] - minus[j]) / (2 * eps);
        compare(analytic, numeric, `projection ${p}`);
      }
    }
    reports.push(rep);
  });
  return { passed: reports.every((r) => r.passed), inputs: reports };
}

/** gradcheck that throws an Error describing the worst mismatch of each failing input. */
export function assertGradcheck(fn: Fn, inputs: readonly Tensor[], options: GradcheckOptions = {}): GradcheckReport {
  const rep = gradcheck(fn, inputs, options);
  if (!rep.passed) {
    const lines = rep.inputs.filter((r) => !r.passed).map((r) =>
      `input ${r.index} ${fmtShape(r.shape)} (${r.mode}): max abs error ${r.maxAbsError.toExponential(3)}, ` +
      `worst at ${r.worst?.where}: analytic ${r.worst?.analytic} vs numeric ${r.worst?.numeric}`);
    throw new Error(`gradcheck: gradients do not match finite differences\n  ${lines.join('\n  ')}`);
  }
  return rep;
}
