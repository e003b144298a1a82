/**
 * The conformance driver: for each dtype and each case of DIR/manifest.json, validate the case
 * against its file, run its op through tsgrad's public API and compare every expected tensor.
 *
 * A case passes only if every expected tensor in its file was compared and passed. An expected
 * tensor the runner cannot produce is listed as SKIPPED and fails the case: there is no class of
 * reference values this runner knowingly leaves unchecked. Anything wrong with the case itself
 * (unknown op or parameter, an input the op does not take, a manifest that disagrees with the
 * file) or an exception from tsgrad is an ERROR, which also fails the run.
 */
import * as fs from 'fs';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { readSafetensors, type SafetensorsFile } from '../../lib/io/safetensors';
import { CaseTensors, isExpectedName, isInputName } from './case_tensors';
import { compareTensor, skipped, type TensorCheck } from './compare';
import { jsonEqual, readManifest, type CaseSpec, type Json, type RunDType } from './manifest';
import type { Actuals } from './op_context';
import { OPS } from './ops';
import { CaseError } from './params';

export type CaseStatus = 'PASS' | 'FAIL' | 'ERROR';

export interface CaseResult {
  name: string;
  op: string;
  dtype: RunDType;
  status: CaseStatus;
  /** One entry per expected tensor of the case file, in file order (empty for an ERROR). */
  checks: TensorCheck[];
  /** The reason for an ERROR (or for a FAIL with no failing tensor); '' otherwise. */
  error: string;
  /** Information that does not change the verdict (e.g. computed gradients the file has no reference for). */
  notes: string[];
  /** Largest maxAbsError / max|expected| over the compared tensors; NaN when none was compared. */
  worstRelError: number;
  /** Largest maxAbsError / allowed: below 1 passes, and how far below is the margin. */
  worstRatio: number;
  seconds: number;
}

export interface DTypeSummary {
  dtype: RunDType;
  cases: number;
  passed: number;
  failed: number;
  /** Wall time for all cases of this dtype, file reading included. */
  seconds: number;
}

export interface Report {
  dir: string;
  manifest: string;
  results: CaseResult[];
  summaries: DTypeSummary[];
  /**
   * What fails the run beyond its cases: a manifest with no cases (nothing was verified), and, when
   * every case is run, a .safetensors file in the directory that no case names (its references would go unchecked).
   */
  problems: string[];
  /** True when at least one case ran, every case passed in every dtype, and there is no problem above. */
  ok: boolean;
}

export interface RunOptions {
  /** Only these case names (all when absent); an unknown name is an error. */
  cases?: readonly string[];
  /** Called after each case, e.g. to print progress while the run continues. */
  onCase?: (result: CaseResult) => void;
}

export const SUPPORTED_OPS: readonly string[] = Object.keys(OPS);

export function runConformance(dir: string, dtypes: readonly RunDType[], options: RunOptions = {}): Report {
  if (dtypes.length === 0) throw new Error('runConformance: dtypes must name at least one of float64, float32');
  for (const dt of dtypes) {
    if (dt !== 'float32' && dt !== 'float64') throw new Error(`runConformance: unknown dtype ${JSON.stringify(dt)} (expected float32 or float64)`);
  }
  const manifest = readManifest(dir);
  let specs = manifest.cases;
  if (options.cases !== undefined) {
    const known = new Set(specs.map((s) => s.name));
    const unknown = options.cases.filter((c) => !known.has(c));
    if (unknown.length) throw new Error(`runConformance: no case named ${unknown.map((c) => JSON.stringify(c)).join(', ')} in ${manifest.path}`);
    specs = specs.filter((s) => options.cases!.includes(s.name));
  }
  const problems: string[] = [];
  if (manifest.cases.length === 0) problems.push(`${manifest.path} lists no cases: nothing was verified`);
  if (options.cases === undefined) {
    const named = new Set(manifest.cases.map((c) => c.file));
    for (const f of fs.readdirSync(dir).sort()) {
      const file = path.resolve(dir, f);
      if (f.endsWith('.safetensors') && !named.has(file)) {
        problems.push(`${file} is named by no case of ${manifest.path}: its reference values were not checked`);
      }
    }
  }
  const results: CaseResult[] = [];
  const summaries: DTypeSummary[] = [];
  for (const dtype of dtypes) {
    const t0 = performance.now();
    let passed = 0;
    for (const spec of specs) {
      const r = runCase(spec, dtype);
      results.push(r);
      if (r.status === 'PASS') passed++;
      options.onCase?.(r);
    }
    summaries.push({ dtype, cases: specs.length, passed, failed: specs.length - passed, seconds: (performance.now() - t0) / 1000 });
  }
  const ok = problems.length === 0 && results.length > 0 && results.every((r) => r.status === 'PASS');
  return { dir, manifest: manifest.path, results, summaries, problems, ok };
}

export function runCase(spec: CaseSpec, dtype: RunDType): CaseResult {
  const t0 = performance.now();
  const where = `case ${spec.name} (${spec.op || 'no op'}, ${dtype})`;
  const result: CaseResult = {
    name: spec.name, op: spec.op, dtype, status: 'ERROR', checks: [], error: '', notes: [],
    worstRelError: NaN, worstRatio: NaN, seconds: 0,
  };
  const finish = (): CaseResult => {
    result.seconds = (performance.now() - t0) / 1000;
    return result;
  };
  try {
    const { io, actual } = execute(spec, dtype, where);
    judge(result, io, actual, spec, dtype);
  } catch (e) {
    result.status = 'ERROR';
    const msg = e instanceof Error ? e.message : String(e);
    // CaseError messages already say which case; anything else was thrown by tsgrad or the file reader.
    result.error = e instanceof CaseError ? msg : `${where}: ${msg}`;
  }
  return finish();
}

function execute(spec: CaseSpec, dtype: RunDType, where: string): { io: CaseTensors; actual: Actuals } {
  if (spec.problems.length) throw new CaseError(`${where}: bad manifest entry: ${spec.problems.join('; ')}`);
  if (spec.tolerance[dtype] === undefined) throw new CaseError(`${where}: the manifest entry has no tolerance.${dtype}`);
  const op = Object.prototype.hasOwnProperty.call(OPS, spec.op) ? OPS[spec.op] : undefined;
  if (op === undefined) throw new CaseError(`${where}: unknown op '${spec.op}' (supported: ${SUPPORTED_OPS.join(', ')})`);
  const file: SafetensorsFile = readSafetensors(spec.file);
  checkAgainstManifest(where, spec, file);
  const io = new CaseTensors(where, spec.file, file.tensors, dtype);
  checkNames(where, io, op.inputs, op.gradOutputs, op.modelState);
  const actual = op.run({ where, dtype, params: spec.params, io });
  const unused = io.unused();
  if (unused.length) throw new CaseError(`${where}: the runner did not use input${unused.length > 1 ? 's' : ''} ${unused.join(', ')}`);
  return { io, actual };
}

/** The file's own record of its op and params, and the manifest's tensor list, must agree with the entry. */
function checkAgainstManifest(where: string, spec: CaseSpec, file: SafetensorsFile): void {
  const md = file.metadata;
  if (md.op !== undefined && md.op !== spec.op) {
    throw new CaseError(`${where}: ${spec.file} says op '${md.op}' but the manifest says '${spec.op}'`);
  }
  if (md.params !== undefined) {
    let params: Json;
    try {
      params = JSON.parse(md.params) as Json;
    } catch {
      throw new CaseError(`${where}: ${spec.file} has unparsable params metadata ${JSON.stringify(md.params)}`);
    }
    if (!jsonEqual(params, spec.params)) {
      throw new CaseError(`${where}: ${spec.file} has params ${md.params} but the manifest has ${JSON.stringify(spec.params)}`);
    }
  }
  if (spec.tensors !== null) {
    const inFile = new Set(file.tensors.keys());
    const listed = new Set(spec.tensors);
    const notInFile = spec.tensors.filter((t) => !inFile.has(t));
    const notListed = [...inFile].filter((t) => !listed.has(t));
    if (notInFile.length || notListed.length) {
      const parts: string[] = [];
      if (notInFile.length) parts.push(`listed but missing from the file: ${notInFile.join(', ')}`);
      if (notListed.length) parts.push(`in the file but not listed: ${notListed.join(', ')}`);
      throw new CaseError(`${where}: the manifest's tensor list disagrees with ${spec.file} (${parts.join('; ')})`);
    }
  }
}

function checkNames(where: string, io: CaseTensors, inputs: readonly string[], gradOutputs: readonly string[], modelState: boolean): void {
  for (const name of io.names()) {
    if (!isInputName(name) && !isExpectedName(name)) {
      throw new CaseError(`${where}: tensor '${name}' has an unknown prefix (expected in., model., gradout., out., grad. or step.)`);
    }
    if (name.startsWith('in.') && !inputs.includes(name.slice(3))) {
      throw new CaseError(`${where}: '${name}' is not an input of this op (inputs: ${inputs.map((i) => `in.${i}`).join(', ')})`);
    }
    if (name.startsWith('gradout.') && !gradOutputs.includes(name.slice(8))) {
      const allowed = gradOutputs.length ? gradOutputs.map((g) => `gradout.${g}`).join(', ') : 'none; backward starts from the scalar loss';
      throw new CaseError(`${where}: '${name}' seeds no differentiable output of this op (accepted: ${allowed})`);
    }
    if (name.startsWith('model.') && !modelState) throw new CaseError(`${where}: '${name}' is model state, but this op takes no model`);
  }
}

function judge(result: CaseResult, io: CaseTensors, actual: Actuals, spec: CaseSpec, dtype: RunDType): void {
  const tol = spec.tolerance[dtype]!;
  const expectedNames = io.names().filter(isExpectedName);
  for (const name of expectedNames) {
    const a = actual.get(name);
    if (a === undefined) result.checks.push(skipped(name, `the runner does not compute '${name}' for op ${spec.op}`));
    else if (a.kind === 'missing') result.checks.push(skipped(name, a.reason));
    else result.checks.push(compareTensor(name, a.value, io.expected(name), tol));
  }
  const expected = new Set(expectedNames);
  for (const prefix of ['grad.', 'step.']) {
    const unreferenced = [...actual.entries()]
      .filter(([k, a]) => k.startsWith(prefix) && !expected.has(k) && !(a.kind === 'value' && a.extra))
      .map(([k]) => k);
    if (unreferenced.length) result.notes.push(`${unreferenced.length} computed ${prefix}* tensor(s) have no reference in the file: ${unreferenced.join(', ')}`);
  }
  const compared = result.checks.filter((c) => c.status !== 'SKIPPED');
  result.worstRelError = compared.length ? Math.max(...compared.map((c) => c.relError)) : NaN;
  result.worstRatio = compared.length ? Math.max(...compared.map((c) => (c.allowed > 0 ? c.maxAbsError / c.allowed : c.maxAbsError === 0 ? 0 : Infinity))) : NaN;
  if (result.checks.length === 0) {
    result.status = 'FAIL';
    result.error = `case ${spec.name} (${spec.op}, ${dtype}): the file holds no expected tensor (out.*, grad.*, step.*), so nothing was verified`;
  } else {
    result.status = result.checks.every((c) => c.status === 'PASS') ? 'PASS' : 'FAIL';
  }
}

// ---- text output ----

function e(x: number): string {
  if (Number.isNaN(x)) return '-';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return x.toExponential(2);
}

export function formatCase(r: CaseResult): string[] {
  const lines: string[] = [];
  const width = Math.max(20, ...r.checks.map((c) => c.name.length));
  for (const c of r.checks) {
    const tail = c.detail ? `  (${c.detail})` : '';
    if (c.status === 'SKIPPED') lines.push(`    ${c.name.padEnd(width)}  SKIPPED${tail}`);
    else lines.push(`    ${c.name.padEnd(width)}  max|err| ${e(c.maxAbsError)}  allowed ${e(c.allowed)}  rel ${e(c.relError)}  ${c.status}${tail}`);
  }
  for (const n of r.notes) lines.push(`    note: ${n}`);
  if (r.error) lines.push(`    ${r.status === 'ERROR' ? 'error' : 'reason'}: ${r.error}`);
  const counts = r.checks.length
    ? `${r.checks.filter((c) => c.status === 'PASS').length}/${r.checks.length} tensors passed, worst rel ${e(r.worstRelError)}, worst err/allowed ${e(r.worstRatio)}`
    : 'no tensors compared';
  lines.push(`  ${r.status.padEnd(5)} ${r.name} [${r.op}, ${r.dtype}]: ${counts} (${r.seconds.toFixed(2)} s)`);
  return lines;
}

export function formatSummary(report: Report): string {
  const total = report.results.length;
  const passed = report.results.filter((r) => r.status === 'PASS').length;
  const per = report.summaries.map((s) => `${s.dtype} ${s.passed}/${s.cases} in ${s.seconds.toFixed(2)} s`).join('; ');
  return `SUMMARY: ${report.ok ? 'PASS' : 'FAIL'}: ${passed} of ${total} case runs passed, ${total - passed} failed (${per})`;
}
