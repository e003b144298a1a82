/**
 * Checkpoint files: named tensors plus a JSON state in ONE safetensors file, and plain model
 * weights (`saveStateDict` / `loadStateDict`) as safetensors with torchvision's key names.
 *
 * Why one file: a training checkpoint is weights + optimizer buffers + the JSON rest (schedule,
 * epoch, step, generator states...). Kept in two files, a crash between the two writes would
 * pair new weights with an old state. Here the JSON state travels in the safetensors header's
 * `__metadata__` (key `tsgrad.state`), and the whole file is written atomically (temporary file,
 * fsync, rename), so a reader sees either the previous checkpoint or the new one, never a mix.
 * The optional `jsonFile` mirror is for people and tools that want to read the state without a
 * safetensors parser; it is written after the checkpoint and never read back.
 *
 * Typed arrays inside the state (an optimizer's momentum buffers) are moved into the tensor
 * section under `state.<json path>` and replaced in the JSON by `{ "$array": name }`, so the
 * buffers are stored as exact binary data and the JSON stays small. Numbers must be finite:
 * JSON would silently turn NaN or Infinity into null, so they are refused with the path, as are
 * `undefined` array elements, cycles and states nested deeper than MAX_STATE_DEPTH (256) levels
 * (a loaded file's too, so a hostile one cannot overflow the stack). An object property whose value is `undefined` is left out,
 * as JSON.stringify does: it reads back as `undefined` (an absent optional field), so nothing is
 * lost. Everything is checked before anything is written.
 */
import type { FloatArray } from '../core/dtype';
import { sameDirEntry, writeFileAtomic } from '../platform/fs';
import {
  readSafetensors, SafetensorsDType, SafetensorsTensor, toFloatArray, writeSafetensors,
} from './safetensors';

/** What a state may hold: JSON values plus Float32Array/Float64Array leaves. */
export type CheckpointValue =
  | null
  | boolean
  | number
  | string
  | Float32Array
  | Float64Array
  | CheckpointValue[]
  | { [key: string]: CheckpointValue };

/** A tensor to store: row-major values, and `integer` for counters PyTorch keeps as int64. */
export interface CheckpointTensor {
  readonly shape: readonly number[];
  readonly data: FloatArray;
  readonly integer?: boolean;
}

export interface CheckpointContents {
  /** By name: an object, or a Map such as the `tensors` loadCheckpoint returns (absent: none). */
  tensors: Readonly<Record<string, CheckpointTensor>> | ReadonlyMap<string, CheckpointTensor>;
  /**
   * A JSON object, possibly with typed-array leaves. Typed `unknown` so that interfaces such as
   * an optimizer's state dict can be passed as they are; every value is checked when saving and
   * the error names the path of the first one that cannot be stored. Properties set to `undefined`
   * are left out (see above); `undefined` in an array, which JSON would turn into null, is refused.
   */
  state: Readonly<Record<string, unknown>>;
}

export interface LoadedTensor {
  shape: number[];
  /** Float64Array for integer (I64) tensors, which hold exact integers up to 2^53. */
  data: FloatArray;
  integer: boolean;
}

export interface LoadedCheckpoint {
  tensors: Map<string, LoadedTensor>;
  state: { [key: string]: CheckpointValue };
}

export interface SaveCheckpointOptions {
  /** Also write the state, with `{ "$array": name, dtype, length }` for each array, to this JSON file. */
  jsonFile?: string;
}

export const CHECKPOINT_FORMAT = 'tsgrad-checkpoint';
export const CHECKPOINT_VERSION = '1';
const META_FORMAT = 'format';
const META_VERSION = 'tsgrad.version';
const META_STATE = 'tsgrad.state';
const ARRAY_REF = '$array';
const STATE_PREFIX = 'state.';
/**
 * Objects and arrays nested in a state, the root object counting as one. Real states nest a few
 * levels; the limit keeps the recursive walks far from the stack's end (near 1500 levels), so a
 * deep state, or a hostile file's, is a named Error and not a RangeError from nowhere.
 */
export const MAX_STATE_DEPTH = 256;

/** Writes `contents` to `file` atomically; the file previously at `file` stays whole until the rename. */
export function saveCheckpoint(file: string, contents: CheckpointContents, options: SaveCheckpointOptions = {}): void {
  const op = 'saveCheckpoint';
  if (typeof file !== 'string' || file.length === 0) throw new Error(`${op}: file must be a non-empty string, got ${String(file)}`);
  if (contents === null || typeof contents !== 'object') throw new Error(`${op}: ${file}: contents must be { tensors, state }`);
  for (const key of Object.keys(contents)) {
    // A misspelt `tensors` would otherwise save a checkpoint without its weights.
    if (key !== 'tensors' && key !== 'state') throw new Error(`${op}: ${file}: unknown contents key '${key}' (expected { tensors, state })`);
  }
  if (options === null || typeof options !== 'object') throw new Error(`${op}: ${file}: options must be an object, got ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (key !== 'jsonFile') throw new Error(`${op}: ${file}: unknown option '${key}'`);
  }
  if (options.jsonFile !== undefined && (typeof options.jsonFile !== 'string' || options.jsonFile.length === 0)) {
    throw new Error(`${op}: ${file}: jsonFile must be a non-empty string, got ${describe(options.jsonFile)}`);
  }
  if (options.jsonFile !== undefined && sameDirEntry(options.jsonFile, file)) {
    // The mirror is written after the checkpoint, so it would replace the checkpoint just written.
    throw new Error(`${op}: ${file}: jsonFile ${options.jsonFile} is the checkpoint file itself; the JSON copy would replace the checkpoint`);
  }
  const out = new Map<string, SafetensorsTensor>();
  for (const [name, t] of tensorEntries(op, file, contents.tensors)) {
    out.set(name, toStored(op, file, name, t));
  }
  const mirror: { [key: string]: unknown } = {};
  const packed = packObject(op, file, contents.state, '', out, mirror, new Map());
  const metadata: Record<string, string> = {
    [META_FORMAT]: CHECKPOINT_FORMAT,
    [META_VERSION]: CHECKPOINT_VERSION,
    [META_STATE]: JSON.stringify(packed),
  };
  writeSafetensors(file, out, metadata);
  if (options.jsonFile !== undefined) {
    writeFileAtomic(options.jsonFile, `${JSON.stringify(mirror, null, 2)}\n`, op);
  }
}

/**
 * The tensors to save as [name, tensor] pairs. A Map (loadCheckpoint's `tensors`, saved again) is
 * read as a Map: Object.entries of one is empty, which silently wrote a checkpoint without weights.
 */
function tensorEntries(op: string, file: string, tensors: unknown): Array<[string, CheckpointTensor]> {
  if (tensors === undefined || tensors === null) return [];
  if (tensors instanceof Map) return [...(tensors as Map<string, CheckpointTensor>)];
  if (!isPlainObject(tensors)) {
    throw new Error(`${op}: ${file}: tensors must be an object or a Map of name to { shape, data }, got ${describe(tensors)}`);
  }
  return Object.entries(tensors) as Array<[string, CheckpointTensor]>;
}

/** Reads a file written by saveCheckpoint; every error names the file and what is wrong. */
export function loadCheckpoint(file: string): LoadedCheckpoint {
  const op = 'loadCheckpoint';
  const st = readSafetensors(file);
  const md = st.metadata;
  if (md[META_FORMAT] !== CHECKPOINT_FORMAT) {
    throw new Error(`${op}: ${file} is a safetensors file but not a tsgrad checkpoint (metadata "${META_FORMAT}" is ${JSON.stringify(md[META_FORMAT] ?? null)}, expected "${CHECKPOINT_FORMAT}")`);
  }
  if (md[META_VERSION] !== CHECKPOINT_VERSION) {
    throw new Error(`${op}: ${file} has checkpoint version ${JSON.stringify(md[META_VERSION] ?? null)}; this code reads version ${CHECKPOINT_VERSION}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(md[META_STATE] ?? '');
  } catch (e) {
    throw new Error(`${op}: ${file}: the "${META_STATE}" metadata is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(raw)) throw new Error(`${op}: ${file}: the "${META_STATE}" metadata must be a JSON object`);
  const used = new Set<string>();
  const state = unpack(op, file, raw, '', st.tensors, used, 1) as { [key: string]: CheckpointValue };
  const tensors = new Map<string, LoadedTensor>();
  for (const [name, t] of st.tensors) {
    if (used.has(name)) continue;
    tensors.set(name, fromStored(op, file, name, t));
  }
  return { tensors, state };
}

// ---- model weights ------------------------------------------------------------------------------

/** The parts of nn.Module that weight files need; lib/ cannot import models/, so it is structural. */
export interface StateDictModule {
  stateDict(): Record<string, { readonly shape: readonly number[]; readonly data: FloatArray }>;
  integerStateKeys(): ReadonlySet<string>;
  loadStateDict(
    sd: Record<string, { readonly shape: readonly number[]; readonly data: ArrayLike<number> }>,
    options?: { strict?: boolean },
  ): { missingKeys: string[]; unexpectedKeys: string[] };
}

/**
 * Writes the module's parameters and persistent buffers to a safetensors file (atomically) under
 * their PyTorch names, so `model.load_state_dict(safetensors.torch.load_file(path))` works on the
 * matching torchvision model. Integer buffers (num_batches_tracked) are written as I64, the dtype
 * PyTorch gives them; the rest keep the module's float dtype (F32 or F64).
 */
export function saveStateDict(module: StateDictModule, file: string): void {
  const op = 'saveStateDict';
  checkModule(op, module);
  const integers = module.integerStateKeys();
  const out = new Map<string, SafetensorsTensor>();
  for (const [name, t] of Object.entries(module.stateDict())) {
    out.set(name, toStored(op, file, name, { shape: t.shape, data: t.data, integer: integers.has(name) }));
  }
  writeSafetensors(file, out, { format: 'pt' });
}

/**
 * Loads weights written by saveStateDict (or by PyTorch's safetensors with the same key names)
 * into `module`, converting dtypes; strict by default, as Module.loadStateDict.
 */
export function loadStateDict(
  module: StateDictModule,
  file: string,
  options: { strict?: boolean } = {},
): { missingKeys: string[]; unexpectedKeys: string[] } {
  const op = 'loadStateDict';
  checkModule(op, module);
  const st = readSafetensors(file);
  // No prototype: a tensor named '__proto__' must be an entry (an unexpected key), not the prototype.
  const sd: Record<string, LoadedTensor> = Object.create(null) as Record<string, LoadedTensor>;
  for (const [name, t] of st.tensors) sd[name] = fromStored(op, file, name, t);
  try {
    return module.loadStateDict(sd, options);
  } catch (e) {
    // Module.loadStateDict already names the op: add the file after it, not a second prefix.
    const msg = (e as Error).message;
    const rest = msg.startsWith(`${op}: `) ? msg.slice(op.length + 2) : msg;
    throw new Error(`${op}: ${file}: ${rest}`);
  }
}

/** The tensors whose names start with `prefix`, renamed without it (a model's weights inside a checkpoint). */
export function tensorsWithPrefix(tensors: ReadonlyMap<string, LoadedTensor>, prefix: string): Record<string, LoadedTensor> {
  const out: Record<string, LoadedTensor> = {};
  for (const [name, t] of tensors) if (name.startsWith(prefix)) setOwn(out, name.slice(prefix.length), t);
  return out;
}

// ---- internals ----------------------------------------------------------------------------------

function checkModule(op: string, m: unknown): void {
  const r = m as Record<string, unknown> | null;
  if (r === null || typeof r !== 'object' || typeof r.stateDict !== 'function' || typeof r.integerStateKeys !== 'function' || typeof r.loadStateDict !== 'function') {
    throw new Error(`${op}: module must have stateDict(), integerStateKeys() and loadStateDict(), got ${describe(m)}`);
  }
}

function toStored(op: string, file: string, name: string, t: CheckpointTensor): SafetensorsTensor {
  if (t === null || typeof t !== 'object' || !Array.isArray(t.shape)) {
    throw new Error(`${op}: ${file}: tensor ${JSON.stringify(name)} must be { shape, data }, got ${describe(t)}`);
  }
  const d = t.data;
  if (!(d instanceof Float32Array || d instanceof Float64Array)) {
    throw new Error(`${op}: ${file}: tensor ${JSON.stringify(name)} data must be a Float32Array or Float64Array, got ${describe(d)}`);
  }
  const shape = t.shape.slice();
  if (t.integer) {
    const ints = new BigInt64Array(d.length);
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (!Number.isSafeInteger(v)) throw new Error(`${op}: ${file}: integer tensor ${JSON.stringify(name)} holds ${v} at index ${i}, not a safe integer`);
      ints[i] = BigInt(v);
    }
    return { dtype: 'I64', shape, data: ints };
  }
  // A copy, so the bytes written are the values at this moment even if training goes on.
  return d instanceof Float64Array ? { dtype: 'F64', shape, data: Float64Array.from(d) } : { dtype: 'F32', shape, data: Float32Array.from(d) };
}

function fromStored(op: string, file: string, name: string, t: SafetensorsTensor): LoadedTensor {
  const floatKinds: readonly SafetensorsDType[] = ['F32', 'F64'];
  if (floatKinds.includes(t.dtype)) return { shape: t.shape, data: t.data as FloatArray, integer: false };
  if (t.dtype === 'I64' || t.dtype === 'I32' || t.dtype === 'U8') {
    try {
      return { shape: t.shape, data: toFloatArray(t, 'float64'), integer: true };
    } catch (e) {
      throw new Error(`${op}: ${file}: tensor ${JSON.stringify(name)}: ${(e as Error).message}`);
    }
  }
  throw new Error(`${op}: ${file}: tensor ${JSON.stringify(name)} has dtype ${t.dtype}, which is not supported here`);
}

function pathName(path: string, key: string | number): string {
  return path === '' ? String(key) : `${path}.${key}`;
}

/** Copies `v`, moving typed arrays into `tensors`; `mirror` receives the readable JSON form. */
function pack(
  op: string,
  file: string,
  v: unknown,
  path: string,
  tensors: Map<string, SafetensorsTensor>,
  open: Map<object, string>,
): { value: unknown; mirror: unknown } {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return { value: v, mirror: v };
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`${op}: ${file}: state value at ${path || '<root>'} is ${v}; only finite numbers can be stored`);
    return { value: v, mirror: v };
  }
  if (v instanceof Float32Array || v instanceof Float64Array) {
    const name = STATE_PREFIX + path;
    if (tensors.has(name)) throw new Error(`${op}: ${file}: the array at state path ${path} collides with tensor ${JSON.stringify(name)}`);
    tensors.set(name, toStored(op, file, name, { shape: [v.length], data: v }));
    const dtype = v instanceof Float64Array ? 'float64' : 'float32';
    return { value: { [ARRAY_REF]: name }, mirror: { [ARRAY_REF]: name, dtype, length: v.length } };
  }
  if (Array.isArray(v)) {
    enter(op, file, v, path, open);
    const value: unknown[] = [];
    const mirror: unknown[] = [];
    v.forEach((x: unknown, i) => {
      if (x === undefined) throw new Error(`${op}: ${file}: state value at ${pathName(path, i)} is undefined`);
      const p = pack(op, file, x, pathName(path, i), tensors, open);
      value.push(p.value);
      mirror.push(p.mirror);
    });
    open.delete(v);
    return { value, mirror };
  }
  if (isPlainObject(v)) {
    const mirror: { [key: string]: unknown } = {};
    const value = packObject(op, file, v, path, tensors, mirror, open);
    return { value, mirror };
  }
  throw new Error(`${op}: ${file}: state value at ${path || '<root>'} is ${describe(v)}; only JSON values and Float32Array/Float64Array can be stored`);
}

function packObject(
  op: string,
  file: string,
  obj: Readonly<Record<string, unknown>>,
  path: string,
  tensors: Map<string, SafetensorsTensor>,
  mirror: { [key: string]: unknown },
  open: Map<object, string>,
): { [key: string]: unknown } {
  if (!isPlainObject(obj)) throw new Error(`${op}: ${file}: state at ${path || '<root>'} must be a plain object, got ${describe(obj)}`);
  enter(op, file, obj, path, open);
  const out: { [key: string]: unknown } = {};
  for (const [k, x] of Object.entries(obj)) {
    // As JSON.stringify: an absent optional field, which reads back as undefined. Refusing it would
    // make a training run fail at its checkpoint over a field that carries no value.
    if (x === undefined) continue;
    if (k === ARRAY_REF) throw new Error(`${op}: ${file}: state key ${pathName(path, k)} is reserved for array references`);
    const p = pack(op, file, x, pathName(path, k), tensors, open);
    setOwn(out, k, p.value);
    setOwn(mirror, k, p.mirror);
  }
  open.delete(obj);
  return out;
}

/**
 * Marks `v` as being packed at `path`; `open` holds the objects and arrays on the way down to it,
 * so meeting one of them again is a cycle (the same object in two branches is fine: stored twice).
 */
function enter(op: string, file: string, v: object, path: string, open: Map<object, string>): void {
  const at = open.get(v);
  if (at !== undefined) {
    throw new Error(`${op}: ${file}: state value at ${path} refers back to the object at ${at || '<root>'}, which contains it (a cycle)`);
  }
  if (open.size >= MAX_STATE_DEPTH) throw tooDeep(op, file, path);
  open.set(v, path);
}

function tooDeep(op: string, file: string, path: string): Error {
  const where = path.length <= 600 ? path : `${path.slice(0, 600)}...`;
  return new Error(`${op}: ${file}: state at ${where} nests deeper than ${MAX_STATE_DEPTH} levels of objects and arrays`);
}

function unpack(
  op: string,
  file: string,
  v: unknown,
  path: string,
  tensors: ReadonlyMap<string, SafetensorsTensor>,
  used: Set<string>,
  depth: number,
): CheckpointValue {
  // Separate tests: without strictNullChecks `v === null` does not narrow an unknown.
  if (v === null) return null;
  if (typeof v === 'boolean' || typeof v === 'string' || typeof v === 'number') return v;
  if (Array.isArray(v)) {
    if (depth > MAX_STATE_DEPTH) throw tooDeep(op, file, path);
    return v.map((x: unknown, i) => unpack(op, file, x, pathName(path, i), tensors, used, depth + 1));
  }
  if (isPlainObject(v)) {
    // An array reference stands for a typed array, a leaf: it is no level, as saveCheckpoint counts.
    if (ARRAY_REF in v) {
      const name = v[ARRAY_REF];
      const t = typeof name === 'string' ? tensors.get(name) : undefined;
      if (t === undefined) throw new Error(`${op}: ${file}: state at ${path} refers to array ${JSON.stringify(name)}, which the file does not contain`);
      if (t.dtype !== 'F32' && t.dtype !== 'F64') throw new Error(`${op}: ${file}: state array ${JSON.stringify(name)} has dtype ${t.dtype}, expected F32 or F64`);
      used.add(name as string);
      return t.data as Float32Array | Float64Array;
    }
    if (depth > MAX_STATE_DEPTH) throw tooDeep(op, file, path);
    const out: { [key: string]: CheckpointValue } = {};
    for (const [k, x] of Object.entries(v)) setOwn(out, k, unpack(op, file, x, pathName(path, k), tensors, used, depth + 1));
    return out;
  }
  throw new Error(`${op}: ${file}: unexpected state value at ${path}: ${describe(v)}`);
}

/**
 * obj[key] = value as an own, enumerable property, also for the key '__proto__': plain assignment
 * would set the prototype instead (or do nothing for a non-object value) and lose the entry.
 */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  if (typeof x === 'function') return 'a function';
  return `${typeof x} ${String(x).slice(0, 100)}`;
}
