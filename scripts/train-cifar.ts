/**
 * `npm run train`: trains ResNet18 (or plain18) on CIFAR-10 or the built-in synthetic set.
 * `npm run train -- --help` lists every option; the defaults run in a few minutes on 2 cores.
 *
 * Everything a user can get wrong (an option, a value, a path, a checkpoint) is checked before
 * any work starts and reported as one line on stderr with exit code 2. The work itself is in
 * scripts/train/: options, data, setup (model/optimizer/schedule), trainer (loop + checkpoints),
 * metrics, progress, svg, evaluation, signals.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic, joinPath, dirExists, fileExists, makeDir } from '../lib/platform/fs';
import { saveStateDict } from '../lib/io/checkpoint';
import { getNumThreads, setNumThreads } from '../lib/platform/threads';
import { runWithTunedMalloc } from '../lib/platform/malloc_tuning';
import { loadSplits, checkCifarDir, Splits } from './train/data';
import {
  EXIT_DIVERGED, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, oneLine, TextSink, UsageError,
} from './train/errors';
import { MetricsLog } from './train/metrics';
import { checkCombinations, flagOf, helpText, parseCommandLine, ParsedCommandLine, TrainConfig } from './train/options';
import { createProgress } from './train/progress';
import { buildParts, warmupSteps } from './train/setup';
import { installStopHandlers, tolerateClosedPipe, yieldToEventLoop } from './train/signals';
import {
  CHECKPOINT_FILE, CHECKPOINT_JSON, CONFIG_FILE, CURVES_FILE, freshLoopState, LoopState, METRICS_FILE, MODEL_FILE, openCheckpoint,
  OpenedCheckpoint, restoreTraining, runLoop, StopState,
} from './train/trainer';

const SCRIPT = 'train-cifar';

export interface TrainIo {
  stdout: TextSink;
  stderr: TextSink;
  stop: StopState;
  /** Called after every step (tests use it to simulate a Ctrl-C at a chosen step). */
  onStep?: (globalStep: number) => void;
  /** Awaited between steps; the CLI yields to the event loop so signal handlers can run. */
  pause?: () => Promise<void>;
}

interface Plan {
  parsed: ParsedCommandLine;
  config: TrainConfig;
  outDir: string;
  resume: OpenedCheckpoint | null;
  /** Set when the checkpoint to resume has already trained every epoch: the line to print, and nothing is written. */
  finished: string | null;
  /** True when this run made the --out directory (then a run that fails before writing to it removes it). */
  madeOut: boolean;
}

/** The options others depend on (--momentum on --optimizer, --gamma on --schedule), compared first on a resume. */
const GOVERNING: readonly (keyof TrainConfig)[] = ['optimizer', 'schedule'];

/** Every file a run writes into its --out directory; a directory holding any of them is a run's. */
export const RUN_FILES: readonly string[] = [METRICS_FILE, CURVES_FILE, CONFIG_FILE, CHECKPOINT_FILE, CHECKPOINT_JSON, MODEL_FILE];

/** The run files `dir` already holds (none when it does not exist). */
function runFilesIn(dir: string): string[] {
  return RUN_FILES.filter((f) => fs.existsSync(joinPath(dir, f)));
}

/** The resolved real path of `file` (or its resolved path when it does not exist). */
function realPath(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

/** `p` as a shell word: quoted when it holds anything but safe characters. */
export function shellQuote(p: string): string {
  return /^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function timestamp(d = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}_${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}`;
}

/**
 * The default --out: a directory under runs/ named after the time, made here and now so that no
 * other run can have it. Two runs started in the same second (a loop over seeds) get
 * runs/<timestamp> and runs/<timestamp>-2: mkdir either creates a directory or fails, so the
 * second can never take the first's directory while the first is still loading its data.
 */
function claimRunDir(): string {
  const base = joinPath('runs', timestamp());
  const cannot = (e: unknown): UsageError => new UsageError(`--out ${base}: cannot create or write the directory (${oneLine(e).replace(/^--out: /, '')})`);
  try {
    makeDir('runs', '--out');
  } catch (e) {
    throw cannot(e);
  }
  for (let i = 1; i <= 1000; i++) {
    const dir = i === 1 ? base : `${base}-${i}`;
    try {
      fs.mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw cannot(e);
    }
  }
  throw new UsageError(`--out ${base}: ${base} and ${base}-2 to -1000 all exist; choose an --out`);
}

/** Everything that can be checked before work starts: options, paths, the checkpoint to resume. */
function plan(argv: readonly string[]): Plan | 'help' {
  const parsed = parseCommandLine(argv);
  if (parsed.help) return 'help';
  let config = parsed.config;
  let resume: OpenedCheckpoint | null = null;
  const run = parsed.run;
  if (run.resume !== null) {
    if (!fileExists(run.resume)) {
      throw new UsageError(`--resume ${run.resume}: ${dirExists(run.resume) ? `is a directory; pass the file inside it, e.g. ${joinPath(run.resume, CHECKPOINT_FILE)}` : 'no such file'}`);
    }
    try {
      fs.accessSync(run.resume, fs.constants.R_OK);
    } catch {
      throw new UsageError(`--resume ${run.resume}: the file is not readable`);
    }
    resume = openCheckpoint(run.resume, '--resume');
    const saved = resume.config;
    const checkSame = (key: keyof TrainConfig): void => {
      // The data directory is a location, not a setting: the same data may have moved.
      if (key === 'data' && saved.data !== null && config.data !== null) return;
      if (JSON.stringify(config[key]) !== JSON.stringify(saved[key])) {
        throw new UsageError(`${flagOf(key)} ${JSON.stringify(config[key])} differs from the checkpoint's ${JSON.stringify(saved[key])}; a resumed run keeps its configuration (start a new run to change it)`);
      }
    };
    // A typed --optimizer or --schedule that differs is the first thing to say: the options that
    // depend on it (--momentum, --gamma, ...) were typed for it, not for the saved run's.
    for (const key of GOVERNING) if (parsed.explicit.has(key)) checkSame(key);
    // Then the dependent options ("--gamma applies to --schedule step only", "--momentum applies to
    // --optimizer sgd or rmsprop only") against the checkpoint's settings: an option that does not
    // apply to the saved run is that, whether or not its value matches the one recorded.
    checkCombinations({ ...saved, data: saved.data !== null && config.data !== null ? config.data : saved.data }, parsed.explicit);
    for (const key of parsed.explicit) checkSame(key);
    config = { ...saved, data: saved.data !== null && config.data !== null ? config.data : saved.data };
  }
  if (config.data !== null) {
    if (resume !== null && !parsed.explicit.has('data')) {
      // The folder comes from the checkpoint: the user never typed a --data to blame.
      try {
        checkCifarDir(config.data, "the checkpoint's data folder");
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        throw new UsageError(`${e.message} (saved with the run; pass --data DIR if the data has moved)`);
      }
    } else {
      checkCifarDir(config.data);
    }
  }

  // A new run without --out gets a directory of its own (made here); see claimRunDir.
  const claimed = run.out === null && resume === null;
  const outDir = run.out ?? (resume ? path.dirname(resume.file) : claimRunDir());
  if (fs.existsSync(outDir) && !dirExists(outDir)) throw new UsageError(`--out ${outDir}: exists and is not a directory`);
  // Only a directory's own checkpoint.safetensors continues the run in it; anything else would
  // overwrite (or cut back) files already there, so it needs a directory without them.
  const ownCheckpoint = resume !== null && realPath(resume.file) === realPath(joinPath(outDir, CHECKPOINT_FILE));
  if (!ownCheckpoint) {
    const found = runFilesIn(outDir);
    if (found.length > 0) {
      const held = `${outDir} already holds ${found.join(', ')}`;
      if (resume !== null) {
        throw new UsageError(`--resume ${resume.file} is not ${joinPath(outDir, CHECKPOINT_FILE)} and ${run.out === null ? 'its directory ' : `--out `}${held}, ` +
          'which resuming would overwrite; pass --out NEWDIR to continue it in a new directory');
      }
      const hint = found.includes(CHECKPOINT_FILE) ? `continue it with --resume ${shellQuote(joinPath(outDir, CHECKPOINT_FILE))} or ` : '';
      const what = found.includes(CHECKPOINT_FILE) || found.includes(METRICS_FILE) ? 'a run' : 'files a run writes';
      throw new UsageError(`--out ${outDir} already holds ${what} (${found.join(', ')}), which a new run would overwrite; ${hint}choose another --out`);
    }
  }
  const finished = resume === null ? null : finishedRun(resume, config);
  if (finished !== null) return { parsed, config, outDir, resume, finished, madeOut: false };
  const madeOut = claimed || !fs.existsSync(outDir);
  try {
    makeDir(outDir, '--out');
    fs.accessSync(outDir, fs.constants.W_OK);
  } catch (e) {
    throw new UsageError(`--out ${outDir}: cannot create or write the directory (${oneLine(e).replace(/^--out: /, '')})`);
  }
  return { parsed, config, outDir, resume, finished: null, madeOut };
}

/** What to say when `ck` has already trained all of config.epochs (then resuming has nothing to do), else null. */
function finishedRun(ck: OpenedCheckpoint, config: TrainConfig): string | null {
  const loop = ck.state.loop as Partial<LoopState> | undefined;
  if (!loop || !Number.isInteger(loop.epoch) || (loop.epoch as number) < config.epochs || loop.stepInEpoch !== 0) return null;
  const last = Array.isArray(loop.history) ? loop.history[loop.history.length - 1] : undefined;
  const acc = last && typeof last.testAccuracy === 'number' ? ` (test accuracy ${(100 * last.testAccuracy).toFixed(2)}%)` : '';
  return `${ck.file}: the run already finished its ${plural(config.epochs, 'epoch')}${acc}; nothing to train, nothing written. ` +
    `Evaluate it with npm run evaluate -- --checkpoint ${shellQuote(ck.file)}, or start a new run.`;
}

function describeRun(config: TrainConfig, splits: Splits, params: number, stepsPerEpoch: number, threads: number): string {
  const sched = config.schedule === 'none' ? 'constant lr' : `${config.schedule} schedule`;
  const warm = warmupSteps(config, stepsPerEpoch);
  return [
    `${config.model} (${config.variant} stem, width ${config.width}, ${config.dtype}, ${params.toLocaleString('en-US')} parameters)`,
    `data: ${splits.description}: ${splits.train.count} train / ${splits.test.count} test images, ${config.augment ? 'crop+flip augmentation' : 'no augmentation'}`,
    `${plural(config.epochs, 'epoch')} x ${plural(stepsPerEpoch, 'step')} of ${config.batchSize}; ${config.optimizer} lr ${config.lr}` +
      `${config.optimizer === 'sgd' || config.optimizer === 'rmsprop' ? ` momentum ${config.momentum}${config.nesterov ? ' (nesterov)' : ''}` : ''}, weight decay ${config.weightDecay}, ` +
      `${sched}${warm > 0 ? ` with ${warm} warm-up steps` : ''}${config.labelSmoothing > 0 ? `, label smoothing ${config.labelSmoothing}` : ''}; ` +
      `seed ${config.seed}; ${threads} thread${threads === 1 ? '' : 's'}`,
  ].join('\n');
}

export async function main(argv: readonly string[], io: TrainIo): Promise<number> {
  const err = (msg: string): void => {
    io.stderr.write(`${SCRIPT}: ${msg}\n`);
  };
  let p: Plan | 'help';
  try {
    p = plan(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      err(oneLine(e));
      return EXIT_USAGE;
    }
    err(`error: ${oneLine(e)}`);
    return EXIT_FAILURE;
  }
  if (p === 'help') {
    io.stdout.write(helpText());
    return EXIT_OK;
  }
  if (p.finished !== null) {
    io.stdout.write(`${p.finished}\n`);
    return EXIT_OK;
  }
  const { config, outDir, resume } = p;
  const run = p.parsed.run;
  const logEvery = resume && !p.parsed.explicitRun.has('logEvery') && Number.isInteger(resume.state.logEvery) && resume.state.logEvery > 0
    ? resume.state.logEvery
    : run.logEvery;
  try {
    // THREADS: the one call site that sizes the kernels' thread pool.
    setNumThreads(run.threads ?? getNumThreads());
    const splits = loadSplits(config);
    // The options check assumed 50,000 CIFAR-10 training images; a --data directory may hold fewer.
    if (config.batchSize > splits.train.count) {
      throw new UsageError(`--batch-size ${config.batchSize} is larger than the ${splits.train.count} training images in ${splits.description} (the incomplete batch is dropped, so no step would run)`);
    }
    const parts = buildParts(config, splits);
    let loop: LoopState = freshLoopState();
    const metrics = new MetricsLog(joinPath(outDir, METRICS_FILE));
    if (resume) {
      loop = restoreTraining(resume, parts);
      const done = loop;
      metrics.truncateForResume(
        (r) => (r.type === 'epoch' ? r.epoch <= done.epoch : r.globalStep <= done.globalStep),
        joinPath(path.dirname(resume.file), METRICS_FILE),
      );
    }
    writeFileAtomic(joinPath(outDir, CONFIG_FILE), `${JSON.stringify({
      config,
      classNames: splits.classNames,
      data: splits.description,
      trainImages: splits.train.count,
      testImages: splits.test.count,
      stepsPerEpoch: parts.stepsPerEpoch,
      parameters: parts.model.numParameters(),
      out: outDir,
      resumedFrom: resume ? resume.file : null,
      threads: getNumThreads(),
      logEvery,
      node: process.version,
      startedAt: new Date().toISOString(),
    }, null, 2)}\n`, CONFIG_FILE);

    io.stdout.write(`${describeRun(config, splits, parts.model.numParameters(), parts.stepsPerEpoch, getNumThreads())}\n`);
    io.stdout.write(resume
      ? `resuming ${resume.file} at epoch ${loop.epoch + 1}, step ${loop.stepInEpoch}/${parts.stepsPerEpoch}; writing to ${outDir}\n`
      : `writing to ${outDir}\n`);

    if (io.stop.requested !== null) {
      err(`${io.stop.requested} before training started; nothing to save`);
      return EXIT_INTERRUPTED;
    }
    const title = `${config.model} ${config.variant} width ${config.width} on ${config.data === null ? 'synthetic data' : 'CIFAR-10'}, ${config.optimizer} lr ${config.lr}, seed ${config.seed}`;
    const outcome = await runLoop(parts, loop, {
      outDir, config, classNames: splits.classNames, progress: createProgress(io.stdout), metrics, stop: io.stop,
      logEvery, debugNanStep: run.debugNanStep, pause: io.pause ?? yieldToEventLoop, onStep: io.onStep, title,
      resumedFrom: resume ? resume.file : null,
    });
    switch (outcome.kind) {
      case 'diverged': {
        const last = outcome.lastCheckpoint;
        const keep = last
          ? `the last good checkpoint ${last.file} (${last.epoch} epoch${last.epoch === 1 ? '' : 's'} done, global step ${last.globalStep}) is kept`
          : 'no checkpoint had been written yet';
        err(`${outcome.what} at epoch ${outcome.epoch}, step ${outcome.step} (global step ${outcome.globalStep}); stopping: ${keep}. Try a lower --lr or --clip-grad-norm.`);
        return EXIT_DIVERGED;
      }
      case 'interrupted': {
        const l = outcome.loop;
        const where = l.stepInEpoch > 0
          ? `at epoch ${l.epoch + 1}, step ${l.stepInEpoch}/${parts.stepsPerEpoch} (global step ${l.globalStep})`
          : `after epoch ${l.epoch} (global step ${l.globalStep})`;
        err(`stopped by ${outcome.signal} ${where}; checkpoint written to ${outcome.checkpoint}; continue with --resume ${shellQuote(outcome.checkpoint)}`);
        return EXIT_INTERRUPTED;
      }
      case 'completed': {
        saveStateDict(parts.model, joinPath(outDir, MODEL_FILE));
        const last = outcome.loop.history[outcome.loop.history.length - 1];
        io.stdout.write(`done: test accuracy ${(100 * last.testAccuracy).toFixed(2)}% after ${config.epochs} epoch${config.epochs === 1 ? '' : 's'}, ${outcome.loop.elapsed.toFixed(1)}s; ` +
          `${joinPath(outDir, METRICS_FILE)}, ${joinPath(outDir, CURVES_FILE)}, ${joinPath(outDir, CHECKPOINT_FILE)}, ${joinPath(outDir, MODEL_FILE)}\n`);
        return EXIT_OK;
      }
    }
  } catch (e) {
    err(e instanceof UsageError ? oneLine(e) : `error: ${oneLine(e)}`);
    // A run that failed before writing anything (bad data, say) leaves no empty directory behind.
    if (p.madeOut) {
      try {
        if (fs.readdirSync(outDir).length === 0) fs.rmdirSync(outDir);
      } catch { /* the error above is the one to report */ }
    }
    return e instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  }
}

function runCli(): void {
  const stop: StopState = { requested: null };
  const uninstall = installStopHandlers(stop, process.stderr, SCRIPT);
  tolerateClosedPipe(process.stdout);
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stop }).then(
    (code) => {
      uninstall();
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
