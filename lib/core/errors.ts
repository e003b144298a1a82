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

/** Optimal-string-alignment distance (edits, adjacent swaps counted once) between two short names. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The allowed name an unknown option key most likely meant: its camelCase form (`weight_decay`),
 * a different capitalisation (`kernelsize`), or the one allowed name of 4+ characters within
 * 2 edits (1 for names up to 5 characters: `strid`, `suffle`, `widht`). Undefined when unsure.
 */
function suggestKey(key: string, allowed: readonly string[]): string | undefined {
  const camel = key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  if (camel !== key && allowed.includes(camel)) return camel;
  const lower = camel.toLowerCase();
  const sameCase = allowed.filter((a) => a.toLowerCase() === lower);
  if (sameCase.length === 1) return sameCase[0];
  const near = allowed.filter((a) => a.length >= 4 && editDistance(lower, a.toLowerCase()) <= (a.length <= 5 ? 1 : 2));
  return near.length === 1 ? near[0] : undefined;
}

/**
 * Requires `obj` to be an options object and rejects keys outside `allowed`, so a misspelt option
 * is an Error instead of being ignored: `SGD: unknown option 'weight_decay' (did you mean
 * 'weightDecay'?)`. `where` is appended to the messages (e.g. ' (param group 0)').
 */
export function checkKnownKeys(op: string, obj: unknown, allowed: readonly string[], where = ''): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj) || ArrayBuffer.isView(obj)) {
    fail(op, `options must be an object, got ${fmtValue(obj)}${where}`);
  }
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    const near = suggestKey(key, allowed);
    fail(op, `unknown option '${key}'${near === undefined ? '' : ` (did you mean '${near}'?)`}${where}`);
  }
}
