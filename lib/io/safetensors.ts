/**
 * safetensors reading and writing (https://github.com/huggingface/safetensors).
 *
 * Layout: 8 bytes little-endian u64 N, N bytes of UTF-8 JSON header, then the byte buffer. The
 * header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} with offsets
 * relative to the start of the byte buffer, plus an optional "__metadata__" string→string map.
 * Tensor data is row-major and little-endian.
 *
 * Files may come from anywhere, so parsing validates everything the reference implementation
 * does (and rejects duplicate keys, which JSON.parse would silently collapse) before touching the
 * data, and every failure is an `Error` naming the file. Parsed tensors are always copies: they
 * are correctly aligned whatever the offset in the file, and reusing the input buffer cannot
 * change them.
 */
import { allocate, FloatArray } from '../core/dtype';
import { fmtShape } from '../core/errors';
import { readFileBytes, writeFileAtomic } from '../platform/fs';

export type SafetensorsDType = 'F32' | 'F64' | 'I64' | 'I32' | 'U8';
export type SafetensorsData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export interface SafetensorsTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: SafetensorsData;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

export type SafetensorsTensors = Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>;

/** Same limit as the reference implementation: a header this large is an attack, not a model. */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

const ELEMENT_BYTES: Record<SafetensorsDType, number> = { F32: 4, F64: 8, I64: 8, I32: 4, U8: 1 };
const SUPPORTED: readonly SafetensorsDType[] = ['F32', 'F64', 'I64', 'I32', 'U8'];
/** Valid in the format but not handled here; named separately so the error says "unsupported". */
const OTHER_FORMAT_DTYPES = new Set([
  'BOOL', 'I8', 'I16', 'U16', 'U32', 'U64', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64',
]);

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDTypeName(x: unknown): x is SafetensorsDType {
  return typeof x === 'string' && (SUPPORTED as readonly string[]).includes(x);
}

function arrayMatchesDType(data: unknown, dtype: SafetensorsDType): boolean {
  switch (dtype) {
    case 'F32': return data instanceof Float32Array;
    case 'F64': return data instanceof Float64Array;
    case 'I64': return data instanceof BigInt64Array;
    case 'I32': return data instanceof Int32Array;
    case 'U8': return data instanceof Uint8Array;
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (Array.isArray(x)) return clip(`array ${JSON.stringify(x)}`);
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  if (typeof x === 'string') return clip(JSON.stringify(x));
  return `${typeof x} ${clip(String(x))}`;
}

/** Keeps messages readable when hostile input puts megabytes where a name or shape should be. */
function clip(s: string, max = 200): string {
  return s.length <= max ? s : `${s.slice(0, max)}...(${s.length} chars)`;
}

function quote(name: string): string {
  return clip(JSON.stringify(name));
}

/** A `{...}` literal or JSON object; Maps, arrays and typed arrays are not. */
function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function isSafeNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Element count of `shape`, or -1 when it exceeds Number.MAX_SAFE_INTEGER. */
function checkedNumel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return -1;
  }
  return n;
}

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Duplicate keys

/**
 * Walks already-validated JSON text and returns the top-level keys in file order, or a message
 * describing the first duplicate key in any object. Needed because JSON.parse keeps only the
 * last of two equal keys, which would let a file show one tensor to one reader and another to
 * the next. Iterative, so deeply nested input cannot overflow the stack.
 */
function scanKeys(text: string): { keys: string[]; duplicate: string | null } {
  interface Frame { isObject: boolean; keys: Set<string>; expectKey: boolean; lastKey: string | null; owner: string | null }
  const stack: Frame[] = [];
  const topKeys: string[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) { escaped = true; j += 2; continue; }
        if (d === 0x22) break;
        j++;
      }
      const top = stack[stack.length - 1];
      if (top !== undefined && top.isObject && top.expectKey) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (top.keys.has(key)) {
          let where: string;
          if (stack.length === 1) where = `duplicate tensor name ${quote(key)} in the header`;
          else if (top.owner === METADATA_KEY) where = `duplicate key ${quote(key)} in __metadata__`;
          else if (top.owner !== null) where = `duplicate key ${quote(key)} in the entry of tensor ${quote(top.owner)}`;
          else where = `duplicate key ${quote(key)} in the header`;
          return { keys: topKeys, duplicate: where };
        }
        top.keys.add(key);
        top.expectKey = false;
        top.lastKey = key;
        if (stack.length === 1) topKeys.push(key);
      }
      i = j + 1;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parent = stack[stack.length - 1];
      const owner = stack.length === 1 && parent.isObject ? parent.lastKey : null;
      stack.push({ isObject: c === 0x7b, keys: new Set(), expectKey: true, lastKey: null, owner });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top !== undefined && top.isObject) top.expectKey = true;
    }
    i++;
  }
  return { keys: topKeys, duplicate: null };
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Parses safetensors bytes. `source` (a file name) is put in every error message. */
export function parseSafetensors(bytes: Uint8Array, source?: string): SafetensorsFile {
  return parseImpl(bytes, source, 'parseSafetensors');
}

/** Reads and parses a safetensors file. */
export function readSafetensors(file: string): SafetensorsFile {
  if (typeof file !== 'string' || file.length === 0) {
    throw new Error(`readSafetensors: file must be a non-empty string, got ${describe(file)}`);
  }
  return parseImpl(readFileBytes(file, 'readSafetensors'), file, 'readSafetensors');
}

interface Entry { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }

function parseImpl(bytes: Uint8Array, source: string | undefined, op: string): SafetensorsFile {
  if (source !== undefined && typeof source !== 'string') {
    throw new Error(`${op}: source must be a string naming the file, got ${describe(source)}`);
  }
  const src = source ?? '<bytes>';
  const bad = (msg: string): never => {
    throw new Error(`${op}: ${src}: ${msg}`);
  };
  if (!(bytes instanceof Uint8Array)) bad(`expected the file's bytes as a Uint8Array, got ${describe(bytes)}`);

  const total = bytes.length;
  if (total < 8) bad(`file is ${total} bytes, shorter than the 8-byte header length field`);
  const lo = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
  const hi = (bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24)) >>> 0;
  const headerLen = (BigInt(hi) << 32n) | BigInt(lo);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    bad(`header length ${headerLen} bytes exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  const n = lo; // hi is 0 here
  if (n > total - 8) {
    bad(`header length ${n} bytes runs past the end of the file (${total} bytes, at most ${total - 8} available for the header)`);
  }

  let text = '';
  try {
    // ignoreBOM keeps a byte-order mark in the text, so such a header fails below as in the reference.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    bad(`header (${n} bytes) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    bad(`header is not valid JSON (${clip((e as Error).message)})`);
  }
  if (!isPlainObject(header)) bad(`header must be a JSON object, got ${describe(header)}`);
  const h = header as Record<string, unknown>;

  const scan = scanKeys(text);
  if (scan.duplicate !== null) bad(scan.duplicate);

  const dataStart = 8 + n;
  const dataLen = total - dataStart;
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];

  for (const name of scan.keys) {
    const value = h[name];
    if (name === METADATA_KEY) {
      if (!isPlainObject(value)) bad(`__metadata__ must be an object mapping strings to strings, got ${describe(value)}`);
      const md = value as Record<string, unknown>;
      for (const k of Object.keys(md)) {
        if (typeof md[k] !== 'string') bad(`__metadata__[${quote(k)}] must be a string, got ${describe(md[k])}`);
      }
      metadata = md as Record<string, string>;
      continue;
    }
    const what = `tensor ${quote(name)}`;
    if (!isPlainObject(value)) bad(`${what}: entry must be an object, got ${describe(value)}`);
    const e = value as Record<string, unknown>;
    for (const field of ['dtype', 'shape', 'data_offsets']) {
      if (!Object.prototype.hasOwnProperty.call(e, field)) bad(`${what}: entry lacks "${field}"`);
    }
    const dtype = e.dtype;
    if (!isDTypeName(dtype)) {
      const kind = typeof dtype === 'string' && OTHER_FORMAT_DTYPES.has(dtype) ? 'unsupported' : 'unknown';
      bad(`${what}: ${kind} dtype ${describe(dtype)} (supported: ${SUPPORTED.join(', ')})`);
    }
    const dt = dtype as SafetensorsDType;
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every(isSafeNonNegInt)) {
      bad(`${what}: shape must be an array of non-negative safe integers, got ${describe(shape)}`);
    }
    const dims = (shape as number[]).map((d) => d + 0); // + 0 turns -0 into 0
    const numel = checkedNumel(dims);
    if (numel < 0) bad(`${what}: shape ${clip(fmtShape(dims))} has more than 2^53 elements`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isSafeNonNegInt)) {
      bad(`${what}: data_offsets must be two non-negative integers [begin, end], got ${describe(offs)}`);
    }
    const [begin, end] = offs as number[];
    if (begin > end) bad(`${what}: data_offsets [${begin}, ${end}] have begin > end`);
    if (end > dataLen) bad(`${what}: data_offsets [${begin}, ${end}] run past the end of the ${dataLen}-byte data buffer`);
    const need = numel * ELEMENT_BYTES[dt];
    if (end - begin !== need) {
      bad(`${what}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but dtype ${dt} and shape ${clip(fmtShape(dims))} need ${need}`);
    }
    entries.push({ name, dtype: dt, shape: dims, begin, end });
  }

  // The spec requires the tensors to tile the byte buffer exactly: no overlap, no holes.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: Entry | null = null;
  for (const e of byOffset) {
    if (e.begin < cursor && prev !== null) {
      bad(`tensors ${quote(prev.name)} [${prev.begin}, ${prev.end}] and ${quote(e.name)} [${e.begin}, ${e.end}] overlap`);
    }
    if (e.begin > cursor) bad(`bytes [${cursor}, ${e.begin}) of the data buffer belong to no tensor (the buffer must be fully covered)`);
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataLen) {
    bad(`bytes [${cursor}, ${dataLen}) of the data buffer belong to no tensor (the buffer must be fully covered)`);
  }

  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: extract(bytes, dataStart + e.begin, dataStart + e.end, e.dtype) });
  }
  return { tensors, metadata };
}

/**
 * Copies bytes [from, to) into a fresh, aligned typed array of `dtype`. Not `bytes.slice`: a Node
 * Buffer (what fs.readFileSync returns) is a Uint8Array whose slice() is a view, and the typed
 * array would then cover the Buffer's whole backing store (Node's shared pool) from byte 0.
 */
function extract(bytes: Uint8Array, from: number, to: number, dtype: SafetensorsDType): SafetensorsData {
  const copy = new Uint8Array(to - from);
  copy.set(bytes.subarray(from, to));
  if (!HOST_LITTLE_ENDIAN) swapBytes(copy, ELEMENT_BYTES[dtype]);
  const buf = copy.buffer;
  switch (dtype) {
    case 'F32': return new Float32Array(buf);
    case 'F64': return new Float64Array(buf);
    case 'I64': return new BigInt64Array(buf);
    case 'I32': return new Int32Array(buf);
    case 'U8': return copy;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Serializes tensors (and optional string metadata) to safetensors bytes. Tensors are laid out in
 * the byte buffer sorted by name, so equal inputs give identical bytes whatever their insertion
 * order; the header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
 */
export function serializeSafetensors(tensors: SafetensorsTensors, metadata?: Record<string, string>): Uint8Array {
  return serializeImpl(tensors, metadata, 'serializeSafetensors', null);
}

/** Serializes and writes atomically (temporary file, fsync, rename): a crash never leaves half a file. */
export function writeSafetensors(file: string, tensors: SafetensorsTensors, metadata?: Record<string, string>): void {
  if (typeof file !== 'string' || file.length === 0) {
    throw new Error(`writeSafetensors: file must be a non-empty string, got ${describe(file)}`);
  }
  const bytes = serializeImpl(tensors, metadata, 'writeSafetensors', file);
  writeFileAtomic(file, bytes, 'writeSafetensors');
}

function serializeImpl(
  tensors: SafetensorsTensors,
  metadata: Record<string, string> | undefined,
  op: string,
  target: string | null,
): Uint8Array {
  const bad = (msg: string): never => {
    throw new Error(`${op}: ${target !== null ? `${target}: ` : ''}${msg}`);
  };

  let items: [string, unknown][];
  if (tensors instanceof Map) {
    items = [...(tensors as Map<unknown, unknown>).entries()].map(([k, v]) => {
      if (typeof k !== 'string') bad(`tensor names must be strings, got ${describe(k)}`);
      return [k as string, v];
    });
  } else if (isPlainObject(tensors)) {
    const rec = tensors as Record<string, unknown>;
    items = Object.keys(rec).map((k) => [k, rec[k]]);
  } else {
    bad(`tensors must be a Map or a plain object of name -> tensor, got ${describe(tensors)}`);
    return new Uint8Array(0); // unreachable; bad() throws
  }

  const valid: { name: string; dtype: SafetensorsDType; shape: number[]; data: SafetensorsData }[] = [];
  for (const [name, t] of items) {
    const what = `tensor ${quote(name)}`;
    if (name === METADATA_KEY) bad(`${what}: the name is reserved for the metadata map`);
    if (!isPlainObject(t)) bad(`${what}: expected { dtype, shape, data }, got ${describe(t)}`);
    const { dtype, shape, data } = t as Record<string, unknown>;
    if (!isDTypeName(dtype)) bad(`${what}: unknown dtype ${describe(dtype)} (supported: ${SUPPORTED.join(', ')})`);
    const dt = dtype as SafetensorsDType;
    if (!Array.isArray(shape) || !shape.every(isSafeNonNegInt)) {
      bad(`${what}: shape must be an array of non-negative safe integers, got ${describe(shape)}`);
    }
    const dims = (shape as number[]).map((d) => d + 0);
    if (!arrayMatchesDType(data, dt)) bad(`${what}: dtype ${dt} needs a ${arrayKindName(dt)}, got ${describe(data)}`);
    const arr = data as SafetensorsData;
    const numel = checkedNumel(dims);
    if (numel !== arr.length) {
      bad(`${what}: data has ${arr.length} elements but shape ${clip(fmtShape(dims))} needs ${numel < 0 ? 'more than 2^53' : numel}`);
    }
    valid.push({ name, dtype: dt, shape: dims, data: arr });
  }

  let md: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) bad(`metadata must be a plain object mapping strings to strings, got ${describe(metadata)}`);
    md = metadata as Record<string, unknown>;
    for (const k of Object.keys(md)) {
      if (typeof md[k] !== 'string') bad(`metadata[${quote(k)}] must be a string, got ${describe(md[k])}`);
    }
  }

  valid.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  // The header is assembled by hand rather than with JSON.stringify on an object, because objects
  // list integer-like keys ("0", "1") first, which would break the by-name order.
  const parts: string[] = [];
  const mdKeys = Object.keys(md);
  if (mdKeys.length > 0) {
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${mdKeys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(md[k])}`).join(',')}}`);
  }
  let offset = 0;
  for (const t of valid) {
    const size = t.data.byteLength;
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + size}]}`);
    offset += size;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  if (headerLen > MAX_HEADER_BYTES) bad(`header would be ${headerLen} bytes, over the limit of ${MAX_HEADER_BYTES}`);
  const totalLen = 8 + headerLen + offset;

  let out: Uint8Array;
  try {
    out = new Uint8Array(totalLen);
  } catch (e) {
    return bad(`cannot allocate ${totalLen} bytes for the file (${(e as Error).message})`);
  }
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen % 4294967296, true);
  view.setUint32(4, Math.floor(headerLen / 4294967296), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const t of valid) {
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(raw, pos);
    if (!HOST_LITTLE_ENDIAN) swapBytes(out.subarray(pos, pos + raw.length), ELEMENT_BYTES[t.dtype]);
    pos += raw.length;
  }
  return out;
}

function arrayKindName(dtype: SafetensorsDType): string {
  switch (dtype) {
    case 'F32': return 'Float32Array';
    case 'F64': return 'Float64Array';
    case 'I64': return 'BigInt64Array';
    case 'I32': return 'Int32Array';
    case 'U8': return 'Uint8Array';
  }
}

// ---------------------------------------------------------------------------------------------
// Conversion

const I64_EXACT_LIMIT = 2n ** 53n;

/**
 * Converts a tensor of any dtype to a new float array (never the tensor's own storage). I64 values
 * beyond ±2^53 are refused rather than silently rounded, since they are usually indices or counts.
 */
export function toFloatArray(t: SafetensorsTensor, dtype: 'float32' | 'float64'): FloatArray {
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new Error(`toFloatArray: dtype must be 'float32' or 'float64', got ${describe(dtype)}`);
  }
  if (!isPlainObject(t)) throw new Error(`toFloatArray: expected a tensor { dtype, shape, data }, got ${describe(t)}`);
  if (!isDTypeName(t.dtype)) throw new Error(`toFloatArray: unknown tensor dtype ${describe(t.dtype)}`);
  if (!arrayMatchesDType(t.data, t.dtype)) {
    throw new Error(`toFloatArray: tensor dtype ${t.dtype} needs a ${arrayKindName(t.dtype)}, got ${describe(t.data)}`);
  }
  if (!Array.isArray(t.shape) || !t.shape.every(isSafeNonNegInt) || checkedNumel(t.shape) !== t.data.length) {
    throw new Error(`toFloatArray: shape ${describe(t.shape)} does not match the ${t.data.length} elements of the data`);
  }
  const src = t.data;
  const out = allocate(dtype, src.length);
  if (src instanceof BigInt64Array) {
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      if (v > I64_EXACT_LIMIT || v < -I64_EXACT_LIMIT) {
        throw new Error(`toFloatArray: I64 value ${v} at index ${i} is beyond ±2^53 and cannot be converted exactly`);
      }
      out[i] = Number(v);
    }
  } else {
    out.set(src);
  }
  return out;
}
