/**
 * Typed access to a case's `params`, with PyTorch's functional names and defaults. Every error
 * names the case, the op and the parameter, because a fixture set is written by another program
 * and a silent default would turn a mistyped parameter into a wrong-but-passing comparison.
 */
import { describe, isJsonObject, type Json, type JsonObject } from './manifest';

/** A problem with the case itself (not with the library under test). */
export class CaseError extends Error {}

export class Params {
  /**
   * @param where  "case NAME (op)" or "case NAME (resnet18 optimizer)", prefixed to every message
   * @param supported  every parameter name this runner understands; anything else is an error
   */
  constructor(private readonly where: string, private readonly raw: JsonObject, supported: readonly string[]) {
    const unknown = Object.keys(raw).filter((k) => !supported.includes(k));
    if (unknown.length > 0) {
      const list = supported.length ? supported.join(', ') : 'none';
      this.fail(`unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (supported: ${list})`);
    }
  }

  fail(message: string): never {
    throw new CaseError(`${this.where}: ${message}`);
  }

  /** Whether a value was given; null counts as not given, as Python's None selects the default. */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** The raw value, for parameters given as null to mean "PyTorch's default". */
  private get(name: string): Json | undefined {
    const v = this.raw[name];
    return v === null ? undefined : v;
  }

  bool(name: string, dflt: boolean): boolean {
    const v = this.get(name);
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') this.fail(`parameter '${name}' must be true or false, got ${describe(v)}`);
    return v;
  }

  number(name: string, dflt: number, check: (v: number) => boolean = Number.isFinite, what = 'a finite number'): number {
    const v = this.get(name);
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !check(v)) this.fail(`parameter '${name}' must be ${what}, got ${describe(v)}`);
    return v;
  }

  int(name: string, dflt: number, min: number): number {
    return this.number(name, dflt, (v) => Number.isSafeInteger(v) && v >= min, `an integer >= ${min}`);
  }

  /** Required (no default) integer. */
  requiredInt(name: string, min: number): number {
    if (this.get(name) === undefined) this.fail(`parameter '${name}' is required`);
    return this.int(name, 0, min);
  }

  /** PyTorch's `_pair`: an int means (v, v); a list must have exactly two ints. */
  pair(name: string, dflt: [number, number] | undefined, min: number): [number, number] {
    const v = this.get(name);
    if (v === undefined) {
      if (dflt === undefined) this.fail(`parameter '${name}' is required`);
      return dflt;
    }
    return this.asPair(name, v, min);
  }

  asPair(name: string, v: Json, min: number): [number, number] {
    const ok = (x: Json): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= min;
    if (ok(v)) return [v, v];
    if (Array.isArray(v) && v.length === 1 && ok(v[0])) return [v[0], v[0]];
    if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1])) return [v[0], v[1]];
    return this.fail(`parameter '${name}' must be an integer >= ${min} or a pair of them, got ${describe(v)}`);
  }

  /** A value that is a plain JSON value for the caller to interpret (e.g. conv2d's padding strings). */
  rawValue(name: string): Json | undefined {
    return this.get(name);
  }

  choice<T extends string>(name: string, choices: readonly T[], dflt: T): T {
    const v = this.get(name);
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
      this.fail(`parameter '${name}' must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${describe(v)}`);
    }
    return v as T;
  }

  numberList(name: string): number[] | undefined {
    const v = this.get(name);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((x): x is number => typeof x === 'number' && Number.isFinite(x))) {
      this.fail(`parameter '${name}' must be a list of finite numbers, got ${describe(v)}`);
    }
    return v;
  }

  object(name: string): JsonObject | undefined {
    const v = this.get(name);
    if (v === undefined) return undefined;
    if (!isJsonObject(v)) this.fail(`parameter '${name}' must be an object, got ${describe(v)}`);
    return v;
  }

  /** Accepts a flag only at the listed values: for implementation switches that must not change the math. */
  onlyValues(name: string, allowed: readonly Json[], why: string): void {
    const v = this.raw[name];
    if (v === undefined) return;
    if (!allowed.some((a) => a === v)) this.fail(`parameter '${name}' = ${describe(v)} is not supported (${why})`);
  }
}
