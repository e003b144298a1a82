/**
 * The training loop and its checkpoints.
 *
 * Resuming reproduces an uninterrupted run bit for bit because every input to the arithmetic is
 * either rebuilt from the config or restored from the checkpoint: weights and BN statistics,
 * optimizer buffers and hyper-parameters, the schedule's position, the global generator, the
 * loader's generator and position within the epoch, and the loop's own running sums (so the
 * epoch's mean loss and the next metrics record come out identical too). Nothing random is drawn
 * from anything else.
 *
 * The loop is async only to yield to the event loop after each step (and each evaluation
 * batch): that is when a SIGINT/SIGTERM handler gets to run and set `stop.requested`.
 */
import { Tensor } from '../../autograd/tensor';
import * as F from '../../autograd/functional';
import type { Batch } from '../../lib/data/loader';
import { loadCheckpoint, LoadedCheckpoint, saveCheckpoint, tensorsWithPrefix } from '../../lib/io/checkpoint';
import type { CheckpointTensor } from '../../lib/io/checkpoint';
import { clipGradNorm } from '../../lib/optim/index';
import type { OptimizerStateDict, SchedulerStateDict } from '../../lib/optim/index';
import { writeFileAtomic, joinPath } from '../../lib/platform/fs';
import { globalRng, RandomState } from '../../lib/random';
import type { DataLoaderState } from '../../lib/data/loader';
import { UsageError } from './errors';
import { argmaxRows, evaluateModel } from './evaluation';
import type { EpochRecord, MetricsLog, StepRecord } from './metrics';
import type { TrainConfig } from './options';
import { validateSavedConfig } from './options';
import { fmtLr, type ProgressReporter } from './progress';
import type { TrainingParts } from './setup';
import { trainingCurvesSvg } from './svg';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const CHECKPOINT_JSON = 'checkpoint.json';
export const CURVES_FILE = 'curves.svg';
export const METRICS_FILE = 'metrics.jsonl';
export const CONFIG_FILE = 'config.json';
export const MODEL_FILE = 'model.safetensors';
const STATE_KIND = 'tsgrad/train-cifar';

/** The loop's position and running sums; saved in every checkpoint. */
export interface LoopState {
  /** 0-based index of the epoch in progress; equals the number of completed epochs. */
  epoch: number;
  /** Steps done in the current epoch. */
  stepInEpoch: number;
  globalStep: number;
  epochLossSum: number;
  epochCorrect: number;
  epochSeen: number;
  epochTrainSeconds: number;
  windowLossSum: number;
  windowCorrect: number;
  windowSeen: number;
  windowSeconds: number;
  /** Seconds of training and evaluation over this run and the runs it resumed. */
  elapsed: number;
  /** The learning rate the last step used (the schedule has already moved on). */
  lastLr: number;
  history: EpochRecord[];
}

export function freshLoopState(): LoopState {
  return {
    epoch: 0, stepInEpoch: 0, globalStep: 0,
    epochLossSum: 0, epochCorrect: 0, epochSeen: 0, epochTrainSeconds: 0,
    windowLossSum: 0, windowCorrect: 0, windowSeen: 0, windowSeconds: 0,
    elapsed: 0, lastLr: 0, history: [],
  };
}

/** The JSON part of a checkpoint (typed arrays in the optimizer state are stored as tensors). */
export interface TrainState {
  kind: typeof STATE_KIND;
  config: TrainConfig;
  classNames: string[];
  loop: LoopState;
  /** --log-every of the run: it decides which steps get metrics records, so a resumed run keeps it. */
  logEvery: number;
  optimizer: OptimizerStateDict;
  scheduler: SchedulerStateDict | null;
  rng: RandomState;
  trainLoader: DataLoaderState;
  /** Why it was written: at the end of an epoch, or when the run was stopped mid-epoch. */
  reason: 'epoch' | 'interrupt';
  savedAt: string;
}

export interface StopState {
  /** The signal that asked the run to stop, or null. */
  requested: string | null;
  /**
   * The checkpoint a --resume can continue from right now (the one resumed, then each one written),
   * or null/absent before there is one: what a second signal, which exits at once, reports.
   */
  checkpoint?: string | null;
}

export interface LoopContext {
  outDir: string;
  config: TrainConfig;
  classNames: string[];
  progress: ProgressReporter;
  metrics: MetricsLog;
  stop: StopState;
  logEvery: number;
  debugNanStep: number | null;
  /** Awaited after each step and evaluation batch (the CLI yields to the event loop here). */
  pause: () => Promise<void>;
  /** Called after each step with the global step count (tests use it to request a stop). */
  onStep?: (globalStep: number) => void;
  /** A short title for curves.svg. */
  title: string;
  /** The checkpoint this run resumed from, or null for a fresh run. */
  resumedFrom: string | null;
}

export type LoopOutcome =
  | { kind: 'completed'; loop: LoopState }
  | { kind: 'interrupted'; loop: LoopState; checkpoint: string; signal: string }
  | {
    kind: 'diverged'; loop: LoopState; epoch: number; step: number; globalStep: number;
    /** What went wrong, e.g. "loss is NaN". */
    what: string;
    /** The checkpoint left in place, and the completed epochs and steps it holds. */
    lastCheckpoint: { file: string; epoch: number; globalStep: number } | null;
  };

// ---- checkpoints ----------------------------------------------------------------------------------

export function writeCheckpoint(ctx: Pick<LoopContext, 'outDir' | 'config' | 'classNames' | 'logEvery'>, parts: TrainingParts, loop: LoopState, reason: TrainState['reason']): string {
  const file = joinPath(ctx.outDir, CHECKPOINT_FILE);
  const integers = parts.model.integerStateKeys();
  const tensors: Record<string, CheckpointTensor> = {};
  for (const [name, t] of Object.entries(parts.model.stateDict())) {
    tensors[`model.${name}`] = { shape: t.shape, data: t.data, integer: integers.has(name) };
  }
  const state: TrainState = {
    kind: STATE_KIND,
    config: ctx.config,
    classNames: ctx.classNames,
    loop,
    logEvery: ctx.logEvery,
    optimizer: parts.optimizer.stateDict(),
    scheduler: parts.scheduler ? parts.scheduler.stateDict() : null,
    rng: globalRng().getState(),
    trainLoader: parts.trainLoader.getState(),
    reason,
    savedAt: new Date().toISOString(),
  };
  saveCheckpoint(file, { tensors, state: state as unknown as Record<string, unknown> }, { jsonFile: joinPath(ctx.outDir, CHECKPOINT_JSON) });
  return file;
}

export interface OpenedCheckpoint {
  file: string;
  raw: LoadedCheckpoint;
  state: TrainState;
  config: TrainConfig;
}

/** Reads and checks a training checkpoint; problems are the user's input (UsageError naming `flag` and the file). */
export function openCheckpoint(file: string, flag: string): OpenedCheckpoint {
  let raw: LoadedCheckpoint;
  try {
    raw = loadCheckpoint(file);
  } catch (e) {
    throw new UsageError(`${flag} ${file}: ${(e as Error).message.replace(/^(readSafetensors|loadCheckpoint): /, '')}`);
  }
  const s = raw.state as Record<string, unknown>;
  if (s.kind !== STATE_KIND) throw new UsageError(`${flag} ${file}: not a train-cifar checkpoint (state kind ${JSON.stringify(s.kind ?? null)})`);
  const config = validateSavedConfig(s.config, `${flag} ${file}`);
  if (!Array.isArray(s.classNames) || !s.classNames.every((n) => typeof n === 'string')) {
    throw new UsageError(`${flag} ${file}: the checkpoint's classNames are missing or not strings`);
  }
  for (const key of ['loop', 'optimizer', 'rng', 'trainLoader']) {
    if (s[key] === null || typeof s[key] !== 'object') throw new UsageError(`${flag} ${file}: the checkpoint has no ${key} state`);
  }
  return { file, raw, state: raw.state as unknown as TrainState, config };
}

/** Puts a checkpoint's weights into `model` (any error names the file). */
export function loadModelWeights(ck: OpenedCheckpoint, parts: Pick<TrainingParts, 'model'>): void {
  try {
    parts.model.loadStateDict(tensorsWithPrefix(ck.raw.tensors, 'model.'));
  } catch (e) {
    throw new Error(`${ck.file}: ${(e as Error).message}`);
  }
}

/** Restores everything a resumed run needs; returns the loop state to continue from. */
export function restoreTraining(ck: OpenedCheckpoint, parts: TrainingParts): LoopState {
  const s = ck.state;
  const where = (what: string, e: unknown): Error => new Error(`--resume ${ck.file}: cannot restore the ${what}: ${(e as Error).message}`);
  loadModelWeights(ck, parts);
  try { parts.optimizer.loadStateDict(s.optimizer); } catch (e) { throw where('optimizer', e); }
  if ((s.scheduler === null) !== (parts.scheduler === null)) throw where('schedule', new Error('the checkpoint and the config disagree on whether there is one'));
  try { if (parts.scheduler && s.scheduler) parts.scheduler.loadStateDict(s.scheduler); } catch (e) { throw where('schedule', e); }
  try { globalRng().setState(s.rng); } catch (e) { throw where('random generator', e); }
  try { parts.trainLoader.setState(s.trainLoader); } catch (e) { throw where('data loader', e); }
  const loop = s.loop;
  const ok = Number.isInteger(loop.epoch) && Number.isInteger(loop.stepInEpoch) && Number.isInteger(loop.globalStep) && Array.isArray(loop.history) &&
    loop.stepInEpoch >= 0 && loop.stepInEpoch <= parts.stepsPerEpoch;
  if (!ok) throw where('loop position', new Error(`epoch ${loop.epoch}, step ${loop.stepInEpoch} of ${parts.stepsPerEpoch}`));
  return { ...freshLoopState(), ...loop, history: loop.history.slice() };
}

// ---- the loop -------------------------------------------------------------------------------------

function resetEpoch(loop: LoopState): void {
  loop.stepInEpoch = 0;
  loop.epochLossSum = 0;
  loop.epochCorrect = 0;
  loop.epochSeen = 0;
  loop.epochTrainSeconds = 0;
}

/** The name of the first parameter or buffer holding a NaN or an infinity, or null. */
function firstNonFinite(parts: TrainingParts): string | null {
  for (const [name, t] of Object.entries(parts.model.stateDict())) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return name;
  }
  return null;
}

function currentLr(parts: TrainingParts): number {
  return parts.optimizer.paramGroups[0].lr;
}

export async function runLoop(parts: TrainingParts, loop: LoopState, ctx: LoopContext): Promise<LoopOutcome> {
  // Whatever ends the loop (an outcome or a thrown error: a full disk, a deleted --out), the bar goes
  // first: a terminal bar left running keeps the process alive forever and swallows the error line.
  try {
    return await trainLoop(parts, loop, ctx);
  } finally {
    ctx.progress.close();
  }
}

/** The loop itself; runLoop closes the progress display however this ends. */
async function trainLoop(parts: TrainingParts, loop: LoopState, ctx: LoopContext): Promise<LoopOutcome> {
  const { config, progress } = ctx;
  const { model, optimizer, scheduler, trainLoader, stepsPerEpoch } = parts;
  const params = model.parameters();
  // A resumed run starts from a checkpoint that is in place (possibly in another directory).
  let lastCheckpoint: { file: string; epoch: number; globalStep: number } | null = ctx.resumedFrom !== null
    ? { file: ctx.resumedFrom, epoch: loop.epoch, globalStep: loop.globalStep }
    : null;
  ctx.stop.checkpoint = ctx.resumedFrom;
  model.train();

  while (loop.epoch < config.epochs) {
    const epochNo = loop.epoch + 1;
    progress.startEpoch(epochNo, config.epochs, stepsPerEpoch, loop.stepInEpoch);
    // Each step's time is wall-clock time since the previous step's was taken (or the epoch's start):
    // fetching and augmenting its batch, logging and the yield to the event loop count, as they do
    // for anyone timing an epoch of a PyTorch loop.
    let mark = performance.now();
    if (loop.stepInEpoch < stepsPerEpoch) {
      const it = trainLoader[Symbol.iterator]();
      for (let r = it.next(); !r.done; r = it.next()) {
        const batch: Batch = r.value;
        if (ctx.debugNanStep === loop.globalStep + 1) batch.images[0] = NaN;
        const x = new Tensor(batch.images, [batch.size, 3, 32, 32]);
        optimizer.zeroGrad();
        const logits = model.call(x);
        const loss = F.crossEntropy(logits, batch.labels, { labelSmoothing: config.labelSmoothing });
        const lossValue = loss.item();
        if (!Number.isFinite(lossValue)) {
          return { kind: 'diverged', loop, epoch: epochNo, step: loop.stepInEpoch + 1, globalStep: loop.globalStep + 1, what: `loss is ${lossValue}`, lastCheckpoint };
        }
        loss.backward();
        if (config.clipGradNorm !== null) clipGradNorm(params, config.clipGradNorm);
        loop.lastLr = currentLr(parts);
        optimizer.step();
        scheduler?.step();
        const pred = argmaxRows(logits.data, batch.size, parts.numClasses);
        let correct = 0;
        for (let i = 0; i < batch.size; i++) if (pred[i] === batch.labels[i]) correct++;
        const now = performance.now();
        const dt = (now - mark) / 1000;
        mark = now;

        loop.stepInEpoch++;
        loop.globalStep++;
        loop.epochLossSum += lossValue * batch.size;
        loop.epochCorrect += correct;
        loop.epochSeen += batch.size;
        loop.epochTrainSeconds += dt;
        loop.windowLossSum += lossValue * batch.size;
        loop.windowCorrect += correct;
        loop.windowSeen += batch.size;
        loop.windowSeconds += dt;
        loop.elapsed += dt;

        const logNow = loop.stepInEpoch % ctx.logEvery === 0 || loop.stepInEpoch === stepsPerEpoch;
        const ips = loop.epochTrainSeconds > 0 ? loop.epochSeen / loop.epochTrainSeconds : 0;
        const secPerStep = loop.epochTrainSeconds / loop.stepInEpoch;
        progress.update({
          epoch: epochNo, epochs: config.epochs, step: loop.stepInEpoch, stepsPerEpoch,
          loss: loop.epochLossSum / loop.epochSeen, accuracy: loop.epochCorrect / loop.epochSeen, lr: loop.lastLr,
          imagesPerSec: ips, etaSeconds: secPerStep * (stepsPerEpoch - loop.stepInEpoch), logNow,
        });
        if (logNow) {
          const rec: StepRecord = {
            type: 'step', epoch: epochNo, step: loop.stepInEpoch, stepsPerEpoch, globalStep: loop.globalStep,
            loss: loop.windowLossSum / loop.windowSeen, accuracy: loop.windowCorrect / loop.windowSeen, lr: loop.lastLr,
            imagesPerSec: loop.windowSeconds > 0 ? loop.windowSeen / loop.windowSeconds : 0,
            time: new Date().toISOString(), elapsed: loop.elapsed,
          };
          ctx.metrics.append(rec);
          loop.windowLossSum = 0;
          loop.windowCorrect = 0;
          loop.windowSeen = 0;
          loop.windowSeconds = 0;
        }

        ctx.onStep?.(loop.globalStep);
        await ctx.pause();
        if (ctx.stop.requested !== null) {
          // After the epoch's last batch, let the loader close the epoch (it draws nothing
          // doing so), so the checkpoint's loader state says "epoch finished".
          if (loop.stepInEpoch === stepsPerEpoch) it.next();
          const bad = firstNonFinite(parts);
          if (bad !== null) {
            return { kind: 'diverged', loop, epoch: epochNo, step: loop.stepInEpoch, globalStep: loop.globalStep, what: `${bad} is not finite`, lastCheckpoint };
          }
          const file = writeCheckpoint(ctx, parts, loop, 'interrupt');
          ctx.stop.checkpoint = file;
          return { kind: 'interrupted', loop, checkpoint: file, signal: ctx.stop.requested };
        }
      }
    }

    // The evaluation's time starts where the last step's ended (its pause included).
    const ev = await evaluateModel(model, parts.testLoader, parts.numClasses, ctx.pause);
    const evalSeconds = (performance.now() - mark) / 1000;
    loop.elapsed += evalSeconds;
    const record: EpochRecord = {
      type: 'epoch', epoch: epochNo, globalStep: loop.globalStep,
      trainLoss: loop.epochLossSum / loop.epochSeen, trainAccuracy: loop.epochCorrect / loop.epochSeen,
      testLoss: ev.loss, testAccuracy: ev.accuracy, lr: loop.lastLr,
      epochSeconds: loop.epochTrainSeconds + evalSeconds,
      imagesPerSec: loop.epochTrainSeconds > 0 ? loop.epochSeen / loop.epochTrainSeconds : 0,
      time: new Date().toISOString(), elapsed: loop.elapsed,
    };
    ctx.metrics.append(record);
    loop.history.push(record);
    progress.line(formatEpochSummary(record, config.epochs));
    loop.epoch++;
    resetEpoch(loop);
    // A finite loss does not prove the last update was finite: never checkpoint broken weights.
    const bad = !Number.isFinite(ev.loss) ? `test loss is ${ev.loss}` : firstNonFinite(parts);
    if (bad !== null) {
      const what = bad.startsWith('test loss') ? bad : `${bad} is not finite`;
      return { kind: 'diverged', loop, epoch: epochNo, step: stepsPerEpoch, globalStep: loop.globalStep, what, lastCheckpoint };
    }
    const file = writeCheckpoint(ctx, parts, loop, 'epoch');
    lastCheckpoint = { file, epoch: loop.epoch, globalStep: loop.globalStep };
    ctx.stop.checkpoint = file;
    writeFileAtomic(joinPath(ctx.outDir, CURVES_FILE), trainingCurvesSvg(loop.history, ctx.title), 'curves.svg');
    if (ctx.stop.requested !== null && loop.epoch < config.epochs) {
      return { kind: 'interrupted', loop, checkpoint: file, signal: ctx.stop.requested };
    }
  }
  return { kind: 'completed', loop };
}

export function formatEpochSummary(r: EpochRecord, epochs: number): string {
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  return `epoch ${r.epoch}/${epochs}  train loss ${r.trainLoss.toFixed(4)} acc ${pct(r.trainAccuracy)}  ` +
    `test loss ${r.testLoss.toFixed(4)} acc ${pct(r.testAccuracy)}  lr ${fmtLr(r.lr)}  ` +
    `${r.epochSeconds.toFixed(1)}s (${r.imagesPerSec.toFixed(1)} img/s)`;
}
