/**
 * `npm run evaluate -- --checkpoint FILE`: test accuracy, per-class accuracy and the confusion
 * matrix of a model saved by train-cifar. The model's architecture and the data it was trained
 * on come from the checkpoint's saved config, so a checkpoint is all it needs; --data points it
 * at CIFAR-10 instead (or at a moved copy).
 */
import * as fs from 'fs';
import * as path from 'path';
import { dirExists, fileExists, writeFileAtomic } from '../lib/platform/fs';
import { DataLoader } from '../lib/data/loader';
import { getNumThreads, MAX_THREADS, setNumThreads } from '../lib/platform/threads';
import { runWithTunedMalloc } from '../lib/platform/malloc_tuning';
import { loadSplits } from './train/data';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, oneLine, parseFlags, TextSink, UsageError } from './train/errors';
import { evaluateModel, formatConfusion, formatPerClass, perClassAccuracy } from './train/evaluation';
import { buildModel } from './train/setup';
import { tolerateClosedPipe, yieldToEventLoop } from './train/signals';
import { CHECKPOINT_JSON, CONFIG_FILE, loadModelWeights, openCheckpoint } from './train/trainer';

const SCRIPT = 'evaluate';
/** The .json files train-cifar writes into a run directory; --json never replaces them. */
const RUN_JSON_FILES: readonly string[] = [CONFIG_FILE, CHECKPOINT_JSON];

export interface EvaluateIo {
  stdout: TextSink;
  stderr: TextSink;
}

interface Options {
  checkpoint: string;
  data: string | null;
  split: 'train' | 'test';
  limit: number | null;
  batchSize: number | null;
  threads: number | null;
  json: string | null;
}

/** What --json writes; also what main() computes. */
export interface EvaluationReport {
  checkpoint: string;
  split: 'train' | 'test';
  data: string;
  images: number;
  loss: number;
  accuracy: number;
  classNames: string[];
  perClassAccuracy: (number | null)[];
  /** confusion[true][predicted] */
  confusion: number[][];
}

/** The fields every report has (EvaluationReport); an existing file is replaced only when it has them all. */
const REPORT_KEYS: readonly (keyof EvaluationReport)[] = ['checkpoint', 'split', 'data', 'images', 'loss', 'accuracy', 'classNames', 'perClassAccuracy', 'confusion'];

/** True when `file` holds a report an earlier --json wrote (a JSON object with the report's fields). */
function isEarlierReport(file: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf-8'));
  } catch {
    return false;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return REPORT_KEYS.every((k) => k in value);
}

export function helpText(): string {
  return [
    'Usage: npm run evaluate -- --checkpoint FILE [options]',
    '       npx ts-node scripts/evaluate.ts --checkpoint FILE [options]',
    '',
    'Evaluates a train-cifar checkpoint: loss, accuracy, per-class accuracy and the confusion matrix.',
    '',
    '  --checkpoint FILE       checkpoint.safetensors written by train-cifar (required)',
    '  --data DIR              CIFAR-10 binary directory [default: the data the run trained on]',
    '  --split NAME            which split to evaluate (test | train) [default: test]',
    '  --limit N               only the first N images [default: the run\'s --limit-test / --limit-train]',
    '  --batch-size N          evaluation batch size [default: the run\'s --eval-batch-size]',
    '  --threads N             threads used by the kernels [default: one per core]',
    '  --json FILE             also write the results as JSON to FILE (replaces an earlier .json',
    '                          report; never another existing file)',
    '  --help                  show this help and exit',
    '',
    'Exit codes: 0 done, 1 failure, 2 bad option or path.',
    '',
  ].join('\n');
}

function positiveInt(flag: string, raw: string | undefined, max: number): number | null {
  if (raw === undefined) return null;
  if (!/^\d+$/.test(raw)) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(raw)}`);
  const v = Number(raw);
  if (v < 1 || v > max) throw new UsageError(`${flag} must be between 1 and ${max}, got ${raw}`);
  return v;
}

function parse(argv: readonly string[]): Options | 'help' {
  const values: Record<string, string | boolean | undefined> = parseFlags(argv, {
    checkpoint: { type: 'string' }, data: { type: 'string' }, split: { type: 'string' }, limit: { type: 'string' },
    'batch-size': { type: 'string' }, threads: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean' },
  });
  if (values.help) return 'help';
  const checkpoint = values.checkpoint as string | undefined;
  if (checkpoint === undefined || checkpoint === '') throw new UsageError('--checkpoint FILE is required (a checkpoint.safetensors written by train-cifar)');
  const split = (values.split as string | undefined) ?? 'test';
  if (split !== 'test' && split !== 'train') throw new UsageError(`--split must be test or train, got ${JSON.stringify(split)}`);
  return {
    checkpoint,
    data: (values.data as string | undefined) ?? null,
    split,
    limit: positiveInt('--limit', values.limit as string | undefined, 100000),
    batchSize: positiveInt('--batch-size', values['batch-size'] as string | undefined, 65536),
    threads: positiveInt('--threads', values.threads as string | undefined, MAX_THREADS),
    json: (values.json as string | undefined) ?? null,
  };
}

/** True when both paths name the same file (through symlinks, hard links or different spellings). */
function sameFile(a: string, b: string): boolean {
  try {
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return path.resolve(a) === path.resolve(b);
  }
}

export async function main(argv: readonly string[], io: EvaluateIo): Promise<number> {
  const err = (msg: string): void => {
    io.stderr.write(`${SCRIPT}: ${msg}\n`);
  };
  try {
    const opts = parse(argv);
    if (opts === 'help') {
      io.stdout.write(helpText());
      return EXIT_OK;
    }
    if (!fileExists(opts.checkpoint)) {
      throw new UsageError(`--checkpoint ${opts.checkpoint}: ${dirExists(opts.checkpoint) ? 'is a directory; pass the checkpoint.safetensors inside it' : 'no such file'}`);
    }
    if (opts.json !== null) {
      // Checked before the evaluation, so a typo costs no run; writing can still fail later (permissions).
      const parent = path.dirname(path.resolve(opts.json));
      if (opts.json === '' || dirExists(opts.json)) throw new UsageError(`--json ${JSON.stringify(opts.json)}: need a file name, not a directory`);
      if (!dirExists(parent)) throw new UsageError(`--json ${opts.json}: the directory ${parent} does not exist`);
      // The report replaces the file atomically: never let it replace the checkpoint or any other saved model.
      if (fileExists(opts.json)) {
        if (sameFile(opts.json, opts.checkpoint)) throw new UsageError(`--json ${opts.json}: is the checkpoint being evaluated; give the report another name`);
        if (/\.safetensors$/i.test(opts.json)) throw new UsageError(`--json ${opts.json}: would overwrite a saved .safetensors file; give the report a .json name`);
        // A run's own JSON files end in .json too, but they are records of the run, not reports.
        if (RUN_JSON_FILES.includes(path.basename(opts.json))) {
          throw new UsageError(`--json ${opts.json}: would overwrite a training run's ${path.basename(opts.json)}; give the report another name`);
        }
        // Only an earlier report is replaced; any other existing file (metrics.jsonl, notes, a
        // package.json) is the user's, whatever its extension.
        if (!/\.json$/i.test(opts.json)) throw new UsageError(`--json ${opts.json}: exists and is not a .json report; give the report a new name`);
        if (!isEarlierReport(opts.json)) {
          throw new UsageError(`--json ${opts.json}: exists and is not an earlier evaluate report (which it would replace); give the report a new name`);
        }
      }
    }
    const ck = openCheckpoint(opts.checkpoint, '--checkpoint');
    const config = ck.config;
    const data = opts.data ?? config.data;
    const limit = opts.limit ?? (opts.split === 'test' ? config.limitTest : config.limitTrain);
    // Only the split being evaluated is generated or read.
    const splits = loadSplits(
      { ...config, data, limitTest: opts.split === 'test' ? limit : null, limitTrain: opts.split === 'train' ? limit : null },
      { train: opts.split === 'train', test: opts.split === 'test' },
    );
    const ds = opts.split === 'test' ? splits.test : splits.train;
    if (splits.classNames.length !== ck.state.classNames.length) {
      // Without --data the data is the checkpoint's own (its folder, or its synthetic set).
      const what = opts.data !== null ? `--data ${data}` : data !== null ? `the checkpoint's data ${data}` : "the checkpoint's synthetic data";
      throw new UsageError(`${what}: has ${splits.classNames.length} classes but the checkpoint's model has ${ck.state.classNames.length}`);
    }

    // THREADS: the one call site that sizes the kernels' thread pool.
    setNumThreads(opts.threads ?? getNumThreads());
    const model = buildModel(config, splits.classNames.length);
    loadModelWeights(ck, { model });
    const loader = new DataLoader(ds, { batchSize: opts.batchSize ?? config.evalBatchSize, dtype: config.dtype });
    const loop = ck.state.loop;
    io.stdout.write(`checkpoint ${ck.file}: ${config.model} (${config.variant} stem, width ${config.width}, ${config.dtype}), ` +
      `${loop.epoch}/${config.epochs} epochs done${loop.stepInEpoch > 0 ? ` + ${loop.stepInEpoch} steps` : ''} (global step ${loop.globalStep})\n`);
    io.stdout.write(`data: ${splits.description}, ${opts.split} split, ${ds.count} images\n`);

    const ev = await evaluateModel(model, loader, splits.classNames.length, yieldToEventLoop);
    const correct = ev.confusion.reduce((s, row, t) => s + row[t], 0);
    io.stdout.write(`\n${opts.split} loss ${ev.loss.toFixed(4)}  accuracy ${(100 * ev.accuracy).toFixed(2)}% (${correct}/${ev.count})\n\n`);
    io.stdout.write(`per-class accuracy:\n${formatPerClass(splits.classNames, ev.confusion)}\n\n`);
    io.stdout.write(`confusion matrix (rows: true class, columns: predicted class):\n${formatConfusion(splits.classNames, ev.confusion)}\n`);

    if (opts.json !== null) {
      const report: EvaluationReport = {
        checkpoint: ck.file, split: opts.split, data: splits.description, images: ev.count, loss: ev.loss, accuracy: ev.accuracy,
        classNames: splits.classNames, perClassAccuracy: perClassAccuracy(ev.confusion).map((a) => (Number.isNaN(a) ? null : a)),
        confusion: ev.confusion,
      };
      try {
        writeFileAtomic(opts.json, `${JSON.stringify(report, null, 2)}\n`, '--json');
      } catch (e) {
        throw new UsageError(oneLine(e));
      }
    }
    return EXIT_OK;
  } catch (e) {
    err(e instanceof UsageError ? oneLine(e) : `error: ${oneLine(e)}`);
    return e instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  }
}

function runCli(): void {
  tolerateClosedPipe(process.stdout);
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${SCRIPT}: error: ${oneLine(e)}\n`);
      process.exitCode = EXIT_FAILURE;
    },
  );
}

if (require.main === module) {
  // On glibc, run once more with malloc settings that keep freed tensor memory (lib/platform/malloc_tuning.ts).
  runWithTunedMalloc(SCRIPT, runCli);
}
