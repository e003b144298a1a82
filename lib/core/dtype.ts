/**
 * Element types. Tensors hold Float32Array storage by default and Float64Array when exact
 * arithmetic is needed (gradient checks, conformance against float64 references).
 */
export type DType = 'float32' | 'float64';
export type FloatArray = Float32Array | Float64Array;

export const DTYPES: readonly DType[] = ['float32', 'float64'];

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'float64';
}

/** The largest finite float32, (2 − 2^−23)·2^127. */
export const FLT_MAX = 3.4028234663852886e38;

/**
 * True when the number v is finite but beyond dtype's range: torch's checked Scalar conversion
 * (fill values, clamp bounds, alpha) refuses it, where ±inf and NaN pass.
 */
export function overflowsDtype(v: number, dtype: DType): boolean {
  return dtype === 'float32' && Number.isFinite(v) && Math.abs(v) > FLT_MAX;
}

export function dtypeOf(a: FloatArray): DType {
  return a instanceof Float64Array ? 'float64' : 'float32';
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}

/**
 * Where new storage comes from. Plain ArrayBuffers by default; the thread pool switches this to
 * SharedArrayBuffer so worker threads can read and write tensors without copies.
 */
let useShared = false;

export function setSharedStorage(on: boolean): void {
  useShared = on && typeof SharedArrayBuffer !== 'undefined';
}

let sharedObserver: ((bytes: number) => void) | null = null;

/**
 * Called with the size of every shared allocation (the thread pool uses it to keep the garbage
 * collector aware of SharedArrayBuffer memory, see threads.ts); null to stop.
 */
export function setSharedAllocationObserver(observer: ((bytes: number) => void) | null): void {
  sharedObserver = observer;
}

let sharedSource: ((bytes: number) => SharedArrayBuffer | null) | null = null;

/**
 * Where allocateShared may take an already zero-filled buffer from before making one (the thread
 * pool's buffer supply, see lib/platform/buffer_supply.ts): given a size in bytes, a new, untouched
 * SharedArrayBuffer of exactly that size, or null. null to stop.
 */
export function setSharedBufferSource(source: ((bytes: number) => SharedArrayBuffer | null) | null): void {
  sharedSource = source;
}

export function sharedStorageEnabled(): boolean {
  return useShared;
}

let bytesThroughAllocate = 0;

/**
 * Bytes of storage allocate() has handed out so far in this thread (a diagnostic: tests compare
 * how much an op allocates, without touching the storage settings or the pool's observer).
 */
export function allocatedBytes(): number {
  return bytesThroughAllocate;
}

/** A zero-filled array of `n` elements of `dtype`. */
export function allocate(dtype: DType, n: number): FloatArray {
  if (!Number.isInteger(n) || n < 0) throw new Error(`allocate: invalid length ${n}`);
  try {
    const a = useShared ? allocateShared(dtype, n) : allocatePlain(dtype, n);
    bytesThroughAllocate += a.byteLength;
    return a;
  } catch (e) {
    // An op's output too large for the platform: say how large, not just V8's RangeError. (The
    // tensor factories catch this earlier and add their op name and shape: autograd/tensor.ts.)
    if (!(e instanceof RangeError)) throw e;
    const bytes = n * bytesPerElement(dtype);
    throw new AllocationError(`allocate: cannot allocate ${n} ${dtype} elements (${bytes} bytes, ${(bytes / 2 ** 30).toFixed(1)} GiB) for a tensor: ${e.message}`, e.message);
  }
}

/** Storage the platform could not allocate; `reason` is the platform's own message. */
export class AllocationError extends Error {
  constructor(message: string, readonly reason: string) {
    super(message);
    this.name = 'AllocationError';
  }
}

/** A zero-filled array over a plain ArrayBuffer whatever the storage setting. */
export function allocatePlain(dtype: DType, n: number): FloatArray {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/** A zero-filled array over a SharedArrayBuffer whatever the storage setting (reported to the observer). */
export function allocateShared(dtype: DType, n: number): FloatArray {
  const bytes = n * bytesPerElement(dtype);
  const buf = (sharedSource !== null ? sharedSource(bytes) : null) ?? new SharedArrayBuffer(bytes);
  if (sharedObserver !== null) sharedObserver(buf.byteLength);
  return dtype === 'float64' ? new Float64Array(buf) : new Float32Array(buf);
}

/** True if `a` lives in memory another thread can see. */
export function isShared(a: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;
}
