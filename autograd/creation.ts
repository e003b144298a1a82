/**
 * Factories. Random ones draw from the global seeded generator (lib/random.ts) unless given
 * their own, so manualSeed(n) reproduces every draw.
 */
import { isDType, overflowsDtype, type DType, type FloatArray } from '../lib/core/dtype';
import { checkKnownKeys, fail, fmtShape, fmtValue } from '../lib/core/errors';
import { numel, validateShape } from '../lib/core/shape';
import { globalRng, type Random } from '../lib/random';
import { allocateFor, Tensor, type NestedArray } from './tensor';

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

export interface RandomOptions extends TensorOptions {
  generator?: Random;
}

const TENSOR_KEYS: readonly string[] = ['dtype', 'requiresGrad'];
const RANDOM_KEYS: readonly string[] = [...TENSOR_KEYS, 'generator'];

/**
 * Rejects an options argument that is not an object (`zeros(2, 3)` would otherwise take the 3 as
 * options and make a [2] tensor; `usage` then shows the call with the shape as an array) and
 * options keys outside `allowed` (`requires_grad` would otherwise be ignored), and a requiresGrad
 * that is not a boolean (the string 'false' would otherwise turn gradients on).
 */
function checkOptions(op: string, options: unknown, allowed: readonly string[], usage?: () => string): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options) || ArrayBuffer.isView(options)) {
    const hint = usage !== undefined && typeof options === 'number' ? `; pass the shape as an array: ${usage()}` : '';
    fail(op, `options must be an object, got ${fmtValue(options)}${hint}`);
  }
  checkKnownKeys(op, options, allowed);
  const requiresGrad = (options as TensorOptions).requiresGrad;
  if (requiresGrad !== undefined && typeof requiresGrad !== 'boolean') fail(op, `requiresGrad must be a boolean, got ${fmtValue(requiresGrad)}`);
}

/** `op(...before, [shape, extra], ...after)` when the shape was given as a number, for checkOptions' hint. */
function shapeUsage(op: string, shape: unknown, extra: unknown, before: unknown[] = [], after: unknown[] = []): (() => string) | undefined {
  if (typeof shape !== 'number') return undefined;
  return () => `${op}(${[...before, `[${shape}, ${fmtValue(extra)}]`, ...after].map((a) => (typeof a === 'string' ? a : fmtValue(a))).join(', ')})`;
}

function checkDtype(op: string, dtype: unknown): DType {
  if (dtype === undefined) return 'float32';
  if (!isDType(dtype)) fail(op, `unknown dtype ${String(dtype)} (expected float32 or float64)`);
  return dtype;
}

function finish(t: Tensor, opts: TensorOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

function shapeArg(op: string, shape: readonly number[] | number): number[] {
  const s = typeof shape === 'number' ? [shape] : [...shape];
  validateShape(op, s);
  return s;
}

/** Numbers, typed arrays of numbers, and arrays of these to any depth. */
type NestedValues = number | ArrayLike<number> | readonly NestedValues[];

/**
 * A tensor from nested arrays (whose innermost level may be typed arrays, as torch.tensor takes a
 * list of numpy arrays), a flat array or a typed array. With `shape`, flat data is reshaped (its
 * length must match). A Float32Array/Float64Array of the requested dtype is used as storage without
 * copying. Every element must be a number: a hole in an array (`[1, , 3]`) is an error.
 */
export function tensor(
  values: NestedArray | NestedValues | FloatArray,
  options: TensorOptions & { shape?: readonly number[] } = {},
): Tensor {
  const op = 'tensor';
  checkOptions(op, options, [...TENSOR_KEYS, 'shape']);
  let dtype: DType;
  if (options.dtype !== undefined) dtype = checkDtype(op, options.dtype);
  else dtype = values instanceof Float64Array ? 'float64' : 'float32';
  let flat: ArrayLike<number>;
  let shape: number[];
  if (typeof values === 'number') {
    flat = [values];
    shape = [];
  } else if (isNumberView(values)) {
    flat = values;
    shape = [flat.length];
  } else if (Array.isArray(values)) {
    const inferred = inferNested(values);
    flat = inferred.flat;
    shape = inferred.shape;
  } else {
    const what = ArrayBuffer.isView(values) ? fmtValue(values) : Object.prototype.toString.call(values);
    fail(op, `expected a number, nested arrays of numbers or a typed array, got ${what}`);
  }
  if (options.shape !== undefined) {
    const s = shapeArg(op, options.shape);
    if (numel(s) !== flat.length) fail(op, `shape ${fmtShape(s)} needs ${numel(s)} values but ${flat.length} were given`);
    shape = s;
  }
  let storage: FloatArray;
  if ((dtype === 'float32' && flat instanceof Float32Array) || (dtype === 'float64' && flat instanceof Float64Array)) {
    storage = flat;
  } else {
    storage = allocateFor(op, dtype, shape);
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      if (typeof v !== 'number') fail(op, `element ${i} is not a number: ${String(v)}`);
      storage[i] = v;
    }
  }
  return finish(new Tensor(storage, shape), options);
}

/** A typed array of numbers (not a DataView, whose elements have no type, nor a BigInt64Array). */
function isNumberView(v: unknown): v is ArrayLike<number> {
  return ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array);
}

function isSequence(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || isNumberView(v);
}

/**
 * Shape and row-major elements of nested arrays. Indexed loops, not forEach: forEach skips the holes
 * of a sparse array, which shifted the later values down and left zeros at the end.
 */
function inferNested(values: ReadonlyArray<unknown>): { flat: number[]; shape: number[] } {
  const shape: number[] = [];
  let level: unknown = values;
  while (isSequence(level)) {
    shape.push(level.length);
    level = level[0];
  }
  const flat: number[] = [];
  // The index path is only spelled out for an error message: building it per element was most of the cost.
  const at: number[] = [];
  const where = (): string => at.map((i) => `[${i}]`).join('');
  const notNumber = (v: unknown): never => fail('tensor', `element at ${where() || '[]'} is ${isSequence(v) ? 'an array' : typeof v}, expected a number`);
  // Called for levels above the innermost only (shape has at least one dim: values is an array);
  // the innermost level's elements are checked and pushed in its parent's loop.
  const walk = (v: unknown, d: number): void => {
    if (!isSequence(v) || v.length !== shape[d]) {
      fail('tensor', `ragged nested array: expected length ${shape[d]} at ${where() || 'the top level'}, got ${isSequence(v) ? v.length : typeof v}`);
    }
    const leaf = d === shape.length - 1;
    at.push(0);
    for (let i = 0; i < v.length; i++) {
      at[d] = i;
      const e = v[i];
      if (!leaf) walk(e, d + 1);
      else if (typeof e === 'number') flat.push(e);
      else notNumber(e);
    }
    at.pop();
  };
  walk(values, 0);
  return { flat, shape };
}

export function zeros(shape: readonly number[] | number, options: TensorOptions = {}): Tensor {
  checkOptions('zeros', options, TENSOR_KEYS, shapeUsage('zeros', shape, options));
  const s = shapeArg('zeros', shape);
  return finish(new Tensor(allocateFor('zeros', checkDtype('zeros', options.dtype), s), s), options);
}

export function ones(shape: readonly number[] | number, options: TensorOptions = {}): Tensor {
  checkOptions('ones', options, TENSOR_KEYS, shapeUsage('ones', shape, options));
  return filled('ones', shape, 1, options);
}

export function full(shape: readonly number[] | number, value: number, options: TensorOptions = {}): Tensor {
  checkOptions('full', options, TENSOR_KEYS, shapeUsage('full', shape, value, [], [options]));
  return filled('full', shape, value, options);
}

/** full() under the name of the public op that called it, for its error messages. */
function filled(op: string, shape: readonly number[] | number, value: number, options: TensorOptions): Tensor {
  const s = shapeArg(op, shape);
  if (typeof value !== 'number') fail(op, `fill value must be a number, got ${typeof value}`);
  const dtype = checkDtype(op, options.dtype);
  // torch's checked Scalar conversion: infinities and NaN pass, finite values beyond FLT_MAX do not.
  if (overflowsDtype(value, dtype)) {
    fail(op, `value ${value} cannot be converted to float32 without overflow (use dtype float64)`);
  }
  const data = allocateFor(op, dtype, s);
  data.fill(value);
  return finish(new Tensor(data, s), options);
}

export function zerosLike(x: Tensor, options: TensorOptions = {}): Tensor {
  checkOptions('zerosLike', options, TENSOR_KEYS);
  return zeros(x.shape, { ...options, dtype: options.dtype ?? x.dtype });
}

export function onesLike(x: Tensor, options: TensorOptions = {}): Tensor {
  checkOptions('onesLike', options, TENSOR_KEYS);
  return ones(x.shape, { ...options, dtype: options.dtype ?? x.dtype });
}

export function fullLike(x: Tensor, value: number, options: TensorOptions = {}): Tensor {
  checkOptions('fullLike', options, TENSOR_KEYS);
  return filled('fullLike', x.shape, value, { ...options, dtype: options.dtype ?? x.dtype });
}

/** start, start+step, ... up to (excluding) end; arange(n) is 0..n-1. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  checkOptions('arange', options, TENSOR_KEYS);
  const [s, e] = end === undefined ? [0, start] : [start, end];
  if (![s, e, step].every(Number.isFinite)) fail('arange', `start, end and step must be finite, got ${fmtValue(s)}, ${fmtValue(e)}, ${fmtValue(step)}`);
  if (step === 0) fail('arange', 'step must be non-zero');
  if ((e - s) / step < 0) fail('arange', `upper bound and step sign are inconsistent: start ${s}, end ${e}, step ${step}`);
  const n = Math.max(0, Math.ceil((e - s) / step)); // max: ceil(0 / -1) is -0, a shape must hold 0
  const data = allocateFor('arange', checkDtype('arange', options.dtype), [n]);
  for (let i = 0; i < n; i++) data[i] = s + i * step;
  return finish(new Tensor(data, [n]), options);
}

/** Uniform on [0, 1): 53 random bits in float64, 24 in float32 (more would round up to 1 at times). */
export function rand(shape: readonly number[] | number, options: RandomOptions = {}): Tensor {
  checkOptions('rand', options, RANDOM_KEYS, shapeUsage('rand', shape, options));
  const s = shapeArg('rand', shape);
  const g = options.generator ?? globalRng();
  const data = allocateFor('rand', checkDtype('rand', options.dtype), s);
  if (data instanceof Float32Array) for (let i = 0; i < data.length; i++) data[i] = g.uniformFloat32();
  else for (let i = 0; i < data.length; i++) data[i] = g.uniform();
  return finish(new Tensor(data, s), options);
}

/** Standard normal. */
export function randn(shape: readonly number[] | number, options: RandomOptions = {}): Tensor {
  checkOptions('randn', options, RANDOM_KEYS, shapeUsage('randn', shape, options));
  const s = shapeArg('randn', shape);
  const g = options.generator ?? globalRng();
  const data = allocateFor('randn', checkDtype('randn', options.dtype), s);
  for (let i = 0; i < data.length; i++) data[i] = g.normal();
  return finish(new Tensor(data, s), options);
}

/**
 * Integers uniform on [low, high), stored in a float tensor (this project has float dtypes only), so the
 * range must be one the dtype holds exactly: within ±2^24 in float32, safe integers in float64.
 */
export function randint(low: number, high: number, shape: readonly number[] | number, options: RandomOptions = {}): Tensor {
  checkOptions('randint', options, RANDOM_KEYS, shapeUsage('randint', shape, options, [low, high]));
  const s = shapeArg('randint', shape);
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    fail('randint', `need integers low < high, got low=${low}, high=${high}`);
  }
  const dtype = checkDtype('randint', options.dtype);
  // Every draw must be stored exactly: a rounded one could land on high (exclusive) or off the range.
  if (dtype === 'float32' && (low < -16777216 || high - 1 > 16777216)) {
    fail('randint', `float32 holds every integer only up to 2^24 in magnitude, got low=${low}, high=${high} (use dtype float64)`);
  }
  if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high) || !Number.isSafeInteger(high - low)) {
    fail('randint', `low, high and high - low must be safe integers (below 2^53 in magnitude), got low=${low}, high=${high}`);
  }
  const g = options.generator ?? globalRng();
  const data = allocateFor('randint', dtype, s);
  for (let i = 0; i < data.length; i++) data[i] = g.integer(low, high);
  return finish(new Tensor(data, s), options);
}

/** Uniform on [low, high) in place, for initialisation (not recorded). */
export function uniformFill(t: Tensor, low: number, high: number, generator: Random = globalRng()): Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = generator.uniformRange(low, high);
  return t;
}

/** Normal(mean, std) in place, for initialisation (not recorded). */
export function normalFill(t: Tensor, mean: number, std: number, generator: Random = globalRng()): Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = mean + std * generator.normal();
  return t;
}

/**
 * The n×m identity (torch.eye): ones on the main diagonal, zeros elsewhere; m defaults to n. The
 * options may come second, `eye(3, { dtype: 'float64' })`, as torch takes them by keyword.
 */
export function eye(n: number, options?: TensorOptions): Tensor;
export function eye(n: number, m?: number | null, options?: TensorOptions): Tensor;
export function eye(n: number, m?: number | null | TensorOptions, options: TensorOptions = {}): Tensor {
  const op = 'eye';
  let cols: unknown = m;
  if (m !== null && typeof m === 'object') {
    cols = undefined;
    options = m;
  }
  checkOptions(op, options, TENSOR_KEYS);
  for (const [name, v] of [['n', n], ['m', cols ?? n]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v)) fail(op, `${name} must be an integer, got ${fmtValue(v)}`);
    if (v < 0) fail(op, `${name} must be greater or equal to 0, got ${v}`);
  }
  const rows = n, c = (cols ?? n) as number;
  const data = allocateFor(op, checkDtype(op, options.dtype), [rows, c]);
  for (let i = 0; i < Math.min(rows, c); i++) data[i * c + i] = 1;
  return finish(new Tensor(data, [rows, c]), options);
}

/**
 * `steps` evenly spaced values from start to end inclusive (torch.linspace). As torch's CPU kernel,
 * with step = (end − start)/(steps − 1) in the dtype, the first half is start + i·step and the second
 * half end − (steps − 1 − i)·step, so both ends are exact and a symmetric range gives values
 * symmetric to the bit; float32 rounds every operation as torch's float kernel does. (torch 1.13's
 * AVX kernel computed whole 8- or 4-lane vectors from their first element, which moves the last bit
 * of some values; later versions dropped that for the per-element formula used here.) steps 1 gives
 * [start], steps 0 an empty tensor.
 */
export function linspace(start: number, end: number, steps: number, options: TensorOptions = {}): Tensor {
  const op = 'linspace';
  checkOptions(op, options, TENSOR_KEYS);
  if (typeof start !== 'number' || typeof end !== 'number') fail(op, `start and end must be numbers, got ${fmtValue(start)}, ${fmtValue(end)}`);
  if (typeof steps !== 'number' || !Number.isInteger(steps)) fail(op, `steps must be an integer, got ${fmtValue(steps)}`);
  if (steps < 0) fail(op, `number of steps must be non-negative, got ${steps}`);
  const dtype = checkDtype(op, options.dtype);
  for (const v of [start, end]) {
    if (overflowsDtype(v, dtype)) {
      fail(op, `value ${v} cannot be converted to float32 without overflow (use dtype float64)`);
    }
  }
  const data = allocateFor(op, dtype, [steps]);
  if (steps === 1) {
    data[0] = start;
  } else if (steps > 1) {
    // r() rounds to the dtype after each operation, as the C++ float arithmetic does.
    const r = dtype === 'float32' ? Math.fround : (v: number): number => v;
    const s = r(start), e = r(end);
    // The integer operands convert to the dtype too (exact below 2^24 in float32).
    const step = r(r(e - s) / r(steps - 1));
    const half = Math.floor(steps / 2);
    for (let i = 0; i < steps; i++) {
      data[i] = i < half ? r(s + r(step * r(i))) : r(e - r(step * r(steps - 1 - i)));
    }
  }
  return finish(new Tensor(data, [steps]), options);
}
