/**
 * Reading DIR/manifest.json of a PyTorch reference set (see ../shared/fixtures/torch/README.md).
 *
 * A broken manifest as a whole (unreadable, not JSON, no `cases` array) is an exception; a broken
 * entry is kept with its problems listed, so the run reports that one case as an error and still
 * runs the others.
 */
import * as fs from 'fs';
import * as path from 'path';

export type RunDType = 'float32' | 'float64';
export const RUN_DTYPES: readonly RunDType[] = ['float64', 'float32'];

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** JSON values as they come out of JSON.parse. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface CaseSpec {
  /** The case's name, or `cases[i]` when the entry has none. */
  name: string;
  op: string;
  params: JsonObject;
  /** Absolute path of the case's safetensors file ('' when the entry names none). */
  file: string;
  /** The tensor names the manifest promises, or null when the entry does not list them. */
  tensors: string[] | null;
  tolerance: Partial<Record<RunDType, Tolerance>>;
  note: string;
  /** What is wrong with the entry itself; a case with problems is reported as an error, not run. */
  problems: string[];
}

export interface Manifest {
  path: string;
  cases: CaseSpec[];
}

export function isJsonObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function readManifest(dir: string): Manifest {
  const file = path.join(dir, 'manifest.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`manifest: cannot read ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`manifest: ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!isJsonObject(raw)) throw new Error(`manifest: ${file} must hold a JSON object, got ${describe(raw)}`);
  const cases = raw.cases;
  if (!Array.isArray(cases)) throw new Error(`manifest: ${file} has no "cases" array (got ${describe(cases)})`);
  const seen = new Set<string>();
  const specs = cases.map((c, i) => parseCase(c, i, dir));
  for (const s of specs) {
    if (seen.has(s.name)) s.problems.push(`duplicate case name ${JSON.stringify(s.name)} in ${file}`);
    seen.add(s.name);
  }
  return { path: file, cases: specs };
}

function parseCase(c: Json, index: number, dir: string): CaseSpec {
  const problems: string[] = [];
  const fallbackName = `cases[${index}]`;
  if (!isJsonObject(c)) {
    return { name: fallbackName, op: '', params: {}, file: '', tensors: null, tolerance: {}, note: '', problems: [`entry must be an object, got ${describe(c)}`] };
  }
  const name = typeof c.name === 'string' && c.name !== '' ? c.name : fallbackName;
  if (name === fallbackName) problems.push(`"name" must be a non-empty string, got ${describe(c.name)}`);
  const op = typeof c.op === 'string' ? c.op : '';
  if (op === '') problems.push(`"op" must be a non-empty string, got ${describe(c.op)}`);
  let params: JsonObject = {};
  if (c.params === undefined || c.params === null) params = {};
  else if (isJsonObject(c.params)) params = c.params;
  else problems.push(`"params" must be an object, got ${describe(c.params)}`);
  let file = '';
  if (typeof c.file === 'string' && c.file !== '') file = path.resolve(dir, c.file);
  else problems.push(`"file" must name the case's safetensors file, got ${describe(c.file)}`);
  let tensors: string[] | null = null;
  if (c.tensors !== undefined) {
    if (Array.isArray(c.tensors) && c.tensors.every((t): t is string => typeof t === 'string')) tensors = c.tensors;
    else problems.push(`"tensors" must be an array of tensor names, got ${describe(c.tensors)}`);
  }
  const tolerance: Partial<Record<RunDType, Tolerance>> = {};
  if (!isJsonObject(c.tolerance)) problems.push(`"tolerance" must be an object with float64 and float32 entries, got ${describe(c.tolerance)}`);
  else {
    for (const dt of RUN_DTYPES) {
      const t = c.tolerance[dt];
      if (t === undefined) continue; // only an error if that dtype is run; see toleranceFor
      if (isJsonObject(t) && isTol(t.atol) && isTol(t.rtol)) tolerance[dt] = { atol: t.atol, rtol: t.rtol };
      else problems.push(`tolerance.${dt} must be {atol, rtol} with non-negative finite numbers, got ${JSON.stringify(t)}`);
    }
  }
  const note = typeof c.note === 'string' ? c.note : '';
  return { name, op, params, file, tensors, tolerance, note, problems };
}

function isTol(x: Json | undefined): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0;
}

export function describe(x: unknown): string {
  if (x === undefined) return 'nothing';
  const s = JSON.stringify(x);
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}

/** Structural equality of JSON values (object key order does not matter). */
export function jsonEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (isJsonObject(a) && isJsonObject(b)) {
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => k in b && jsonEqual(a[k], b[k]));
  }
  return false;
}
