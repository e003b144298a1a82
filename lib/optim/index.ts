export { Optimizer } from './optimizer';
export type {
  Parameter, Gradient, BaseHyperParams, ParamGroup, ParamGroupSpec, ParamsArg, ParamState, ParamStateKey, BufferKey, SavedParamGroup,
  OptimizerStateDict,
} from './optimizer';
export { SGD } from './sgd';
export type { SGDHyperParams, SGDOptions } from './sgd';
export { Adam, AdamW } from './adam';
export type { AdamHyperParams, AdamOptions } from './adam';
export { RMSprop } from './rmsprop';
export type { RMSpropHyperParams, RMSpropOptions } from './rmsprop';
export { Adagrad } from './adagrad';
export type { AdagradHyperParams, AdagradOptions } from './adagrad';
export { NAdam } from './nadam';
export type { NAdamHyperParams, NAdamOptions } from './nadam';
export { RAdam } from './radam';
export type { RAdamHyperParams, RAdamOptions } from './radam';
export { Adamax } from './adamax';
export type { AdamaxHyperParams, AdamaxOptions } from './adamax';
export { Adadelta } from './adadelta';
export type { AdadeltaHyperParams, AdadeltaOptions } from './adadelta';
export { clipGradNorm, clipGradValue } from './clip_grad';
export type { ClipGradNormOptions } from './clip_grad';
export {
  LRScheduler, StepLR, MultiStepLR, CosineAnnealingLR, LinearLR, OneCycleLR, SequentialLR, ExponentialLR, ConstantLR,
  LambdaLR, MultiplicativeLR, ReduceLROnPlateau, CosineAnnealingWarmRestarts, PolynomialLR, CyclicLR, ChainedScheduler,
} from './lr_scheduler';
export type {
  SchedulerStateDict, JsonValue, StepLROptions, MultiStepLROptions, CosineAnnealingLROptions, LinearLROptions,
  OneCycleLROptions, AnnealStrategy, SequentialLROptions, ExponentialLROptions, ConstantLROptions, LrLambda,
  LambdaLROptions, ReduceLROnPlateauOptions, ReduceLROnPlateauStateDict, CosineAnnealingWarmRestartsOptions,
  PolynomialLROptions, CyclicLROptions, CyclicMode,
} from './lr_scheduler';
