/**
 * Checks tsgrad against a directory of PyTorch reference cases (manifest.json + safetensors
 * files; see ../shared/fixtures/torch/README.md).
 *
 *   npx ts-node scripts/check-torch-fixtures.ts --dir ../shared/fixtures/torch [--dtype both]
 *
 * Exit codes: 0 every case passed; 1 a case failed or errored, the manifest is unusable or lists
 * no case, or (running every case) a .safetensors file in the directory is named by no case;
 * 2 bad command-line options.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { readManifest, type RunDType } from './conformance/manifest';
import { formatCase, formatSummary, runConformance, SUPPORTED_OPS } from './conformance/runner';

export { runConformance } from './conformance/runner';
export type { CaseResult, Report, RunOptions } from './conformance/runner';

const USAGE = `usage: check-torch-fixtures --dir DIR [--dtype float32|float64|both] [--case NAME]...

Runs every case of DIR/manifest.json through tsgrad's public API in the chosen dtype(s) and
compares each expected tensor with max|actual - expected| <= atol + rtol * max|expected|, using
the case's tolerance for that dtype (float32 runs are compared with the float64 references).

  --dir DIR      directory holding manifest.json and the case files (required)
  --dtype D      float64, float32 or both (default: both)
  --case NAME    run only this case (repeatable)
  -h, --help     show this help

Ops: ${SUPPORTED_OPS.join(', ')}.
Exit status: 0 all cases passed; 1 any case failed, was skipped in part or errored, the manifest
has no cases, or (without --case) a .safetensors file in DIR is named by no case; 2 bad options.`;

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const PROCESS_IO: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Runs the command line and returns the exit code (the caller sets process.exitCode). */
export function main(argv: readonly string[], io: CliIo = PROCESS_IO): number {
  const usageError = (msg: string): number => {
    io.err(`check-torch-fixtures: ${msg} (see --help)`);
    return 2;
  };
  let values: { dir?: string; dtype?: string; case?: string[]; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        dir: { type: 'string' },
        dtype: { type: 'string', default: 'both' },
        case: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return usageError((e as Error).message.split('\n')[0]);
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  if (values.dir === undefined || values.dir === '') return usageError('--dir DIR is required');
  const dtypeArg = values.dtype ?? 'both';
  let dtypes: RunDType[];
  if (dtypeArg === 'both') dtypes = ['float64', 'float32'];
  else if (dtypeArg === 'float64' || dtypeArg === 'float32') dtypes = [dtypeArg];
  else return usageError(`--dtype must be float32, float64 or both, got '${dtypeArg}'`);
  const dir = path.resolve(values.dir);
  if (!fs.existsSync(path.join(dir, 'manifest.json'))) return usageError(`--dir ${values.dir}: no manifest.json in ${dir}`);

  try {
    if (values.case !== undefined) {
      const known = new Set(readManifest(dir).cases.map((c) => c.name));
      const unknown = values.case.filter((c) => !known.has(c));
      if (unknown.length) return usageError(`--case: no case named ${unknown.map((c) => `'${c}'`).join(', ')} in ${path.join(dir, 'manifest.json')}`);
    }
    const report = runConformance(dir, dtypes, {
      cases: values.case,
      onCase: (r) => {
        for (const line of formatCase(r)) io.out(line);
      },
    });
    for (const problem of report.problems) io.err(`check-torch-fixtures: ${problem}`);
    io.out(formatSummary(report));
    return report.ok ? 0 : 1;
  } catch (e) {
    io.err(`check-torch-fixtures: ${(e as Error).message}`);
    return 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
