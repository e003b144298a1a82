/** Formats a shape the way error messages print it: [2,3,4]. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Formats an offending value for an error message, briefly: numbers, booleans and short strings as
 * they are; typed arrays, long arrays and objects by kind and size, so a tensor or a buffer passed
 * where a number belongs gives a one-line message instead of every element.
 */
export function fmtValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return v.length <= 60 ? JSON.stringify(v) : `a string of length ${v.length}`;
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return v.toString();
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as { length?: number }).length ?? v.byteLength})`;
  if (Array.isArray(v)) return v.length <= 8 ? `[${v.map(fmtValue).join(', ')}]` : `an array of length ${v.length}`;
  const ctor = (v as { constructor?: { name?: string } }).constructor;
  const kind = ctor && ctor.name && ctor.name !== 'Object' ? `a ${ctor.name}` : 'an object';
  const shape = (v as { shape?: unknown }).shape;
  return Array.isArray(shape) && shape.every((d) => typeof d === 'number') ? `${kind} of shape ${fmtShape(shape)}` : kind;
}

/** Throws `op: message`. Kept tiny so every validation line reads as one sentence. */
export function fail(op: string, message: string): never {
  throw new Error(`${op}: ${message}`);
}

export function check(cond: boolean, op: string, message: () => string): asserts cond {
  if (!cond) throw new Error(`${op}: ${message()}`);
}
