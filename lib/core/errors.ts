/** Formats a shape the way error messages print it: [2,3,4]. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Throws `op: message`. Kept tiny so every validation line reads as one sentence. */
export function fail(op: string, message: string): never {
  throw new Error(`${op}: ${message}`);
}

export function check(cond: boolean, op: string, message: () => string): asserts cond {
  if (!cond) throw new Error(`${op}: ${message()}`);
}
