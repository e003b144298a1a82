/**
 * Builds what a run trains from its config: model, optimizer with weight-decay param groups,
 * per-step learning-rate schedule, and the two loaders. The same function builds a fresh run and
 * the skeleton a checkpoint is loaded into, so the two cannot differ in structure.
 */
import { DataLoader } from '../../lib/data/loader';
import {
  Adadelta, Adagrad, Adam, Adamax, AdamW, CosineAnnealingLR, LinearLR, LRScheduler, NAdam, OneCycleLR, Optimizer, RAdam, RMSprop,
  SequentialLR, SGD, StepLR,
} from '../../lib/optim/index';
import type { BaseHyperParams, Parameter } from '../../lib/optim/index';
import { manualSeed, Random } from '../../lib/random';
import { plain18, resnet18, ResNet } from '../../models/resnet';
import type { Splits } from './data';
import type { TrainConfig } from './options';

export interface TrainingParts {
  model: ResNet;
  optimizer: Optimizer<BaseHyperParams>;
  scheduler: LRScheduler | null;
  trainLoader: DataLoader;
  testLoader: DataLoader;
  stepsPerEpoch: number;
  numClasses: number;
}

export function buildModel(config: Pick<TrainConfig, 'model' | 'width' | 'variant' | 'dtype'>, numClasses: number): ResNet {
  const make = config.model === 'plain18' ? plain18 : resnet18;
  return make({ numClasses, width: config.width, variant: config.variant, dtype: config.dtype });
}

/**
 * Weight decay on conv and linear weights only: decaying batch-norm γ/β and biases pulls them
 * towards 0 for no regularisation benefit (they do not set the scale of a BN-normalised layer),
 * the usual practice since "Bag of Tricks" (He et al. 2019).
 */
export function paramGroups(model: ResNet, weightDecay: number): { params: Parameter[]; weightDecay: number }[] {
  const decay: Parameter[] = [];
  const noDecay: Parameter[] = [];
  for (const [, p] of model.namedParameters()) (p.ndim > 1 ? decay : noDecay).push(p);
  return [{ params: decay, weightDecay }, { params: noDecay, weightDecay: 0 }];
}

/**
 * The optimizer of a config: torch's class with its defaults (betas, alpha, rho, eps, ...) except
 * lr, weightDecay (per group, see paramGroups) and, for SGD and RMSprop, momentum (and SGD's
 * nesterov). The other optimizers never see config.momentum (the options check refuses a typed one).
 */
export function buildOptimizer(config: TrainConfig, model: ResNet): Optimizer<BaseHyperParams> {
  const groups = paramGroups(model, config.weightDecay);
  const { lr, weightDecay } = config;
  switch (config.optimizer) {
    case 'sgd':
      return new SGD(groups, { lr, momentum: config.momentum, nesterov: config.nesterov, weightDecay });
    case 'adam':
      return new Adam(groups, { lr, weightDecay });
    case 'adamw':
      return new AdamW(groups, { lr, weightDecay });
    case 'rmsprop':
      return new RMSprop(groups, { lr, momentum: config.momentum, weightDecay });
    case 'adagrad':
      return new Adagrad(groups, { lr, weightDecay });
    case 'nadam':
      return new NAdam(groups, { lr, weightDecay });
    case 'radam':
      return new RAdam(groups, { lr, weightDecay });
    case 'adamax':
      return new Adamax(groups, { lr, weightDecay });
    case 'adadelta':
      return new Adadelta(groups, { lr, weightDecay });
  }
}

/**
 * Steps of linear warm-up for a config (rounded; at least 2 with onecycle so its phases are not
 * empty). With onecycle, 0 means "onecycle's own 30%", so any --warmup-epochs above 0 is at least
 * 2 steps there, even one that rounds to 0: a short warm-up must not become 30% of the run.
 */
export function warmupSteps(config: TrainConfig, stepsPerEpoch: number): number {
  const w = Math.round(config.warmupEpochs * stepsPerEpoch);
  return config.schedule === 'onecycle' && config.warmupEpochs > 0 ? Math.max(2, w) : w;
}

/**
 * The schedule, stepped after every optimizer step. Warm-up is LinearLR from lr/(W+1) to lr over
 * W steps, followed by the schedule through SequentialLR; onecycle has a warm-up of its own (its
 * rising phase), so there --warmup-epochs sets that phase's length instead (default 30%).
 * Momentum is not cycled by onecycle (cycleMomentum: false), so --momentum means what it says and
 * every optimizer works with it: torch 1.13's OneCycleLR asks for a `momentum` or `betas` option
 * only when cycle_momentum is on, so with it off Adagrad and Adadelta (which have neither) are
 * accepted there too, and RMSprop's momentum and the Adam family's beta1 stay as constructed.
 */
export function buildScheduler(config: TrainConfig, optimizer: Optimizer<BaseHyperParams>, stepsPerEpoch: number): LRScheduler | null {
  const total = config.epochs * stepsPerEpoch;
  const warm = Math.min(warmupSteps(config, stepsPerEpoch), total - 1);
  if (config.schedule === 'onecycle') {
    return new OneCycleLR(optimizer, { maxLr: config.lr, totalSteps: total, pctStart: warm > 0 ? warm / total : 0.3, cycleMomentum: false });
  }
  let main: LRScheduler | null = null;
  if (config.schedule === 'step') main = new StepLR(optimizer, { stepSize: config.stepEpochs * stepsPerEpoch, gamma: config.gamma });
  else if (config.schedule === 'cosine') main = new CosineAnnealingLR(optimizer, { tMax: Math.max(1, total - warm) });
  if (warm === 0) return main;
  const warmup = new LinearLR(optimizer, { startFactor: 1 / (warm + 1), endFactor: 1, totalIters: warm });
  if (main === null) return warmup;
  return new SequentialLR(optimizer, { schedulers: [warmup, main], milestones: [warm] });
}

/**
 * Everything for a run, drawing from the global generator in a fixed order (model initialisation
 * after manualSeed), so a seed gives the same start every time. The loader's generator gets its
 * own seed derived from the run's, so shuffling does not replay the initialisation's stream.
 */
export function buildParts(config: TrainConfig, splits: Splits): TrainingParts {
  manualSeed(config.seed);
  const numClasses = splits.classNames.length;
  const model = buildModel(config, numClasses);
  const optimizer = buildOptimizer(config, model);
  const loaderSeed = new Random(config.seed ^ 0x5eed).nextUint32();
  const trainLoader = new DataLoader(splits.train, {
    batchSize: config.batchSize, shuffle: true, dropLast: true, augment: config.augment, dtype: config.dtype, seed: loaderSeed,
  });
  const testLoader = new DataLoader(splits.test, { batchSize: config.evalBatchSize, dtype: config.dtype });
  const stepsPerEpoch = trainLoader.length;
  const scheduler = buildScheduler(config, optimizer, stepsPerEpoch);
  return { model, optimizer, scheduler, trainLoader, testLoader, stepsPerEpoch, numClasses };
}
