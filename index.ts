/**
 * The public API. Import from here: `import { tensor, nn, optim, resnet18 } from 'tsgrad'`.
 */
export { Tensor } from './autograd/tensor';
export type { DType, FloatArray, NestedArray, TensorLike, GradHook, RemovableHandle } from './autograd/tensor';
export {
  tensor, zeros, ones, full, zerosLike, onesLike, fullLike, arange, linspace, eye, rand, randn, randint,
} from './autograd/creation';
export type { TensorOptions, RandomOptions } from './autograd/creation';
export type {
  VarianceOptions, MseLossOptions, CrossEntropyOptions, LossReduction, NllLossOptions, L1LossOptions, SmoothL1LossOptions, HuberLossOptions,
  BinaryCrossEntropyOptions, BinaryCrossEntropyWithLogitsOptions, GeluOptions, OneHotOptions, EmbeddingOptions,
  Conv1dOptions, ConvTranspose2dOptions, MaxPool1dOptions, AvgPool1dOptions, SortResult, NormOrder, InterpolateOptions, InterpolateMode, PadMode, PadOptions,
} from './autograd/functional';
export type { AddInplaceOptions } from './autograd/inplace';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled, grad } from './autograd/tape';
export type { BackwardOptions, GradOptions } from './autograd/tape';
export { gradcheck, assertGradcheck } from './autograd/gradcheck';
export type { GradcheckOptions, GradcheckReport } from './autograd/gradcheck';
export { manualSeed, Random } from './lib/random';
export * as F from './autograd/functional';
export {
  add, sub, mul, div, pow, neg, exp, expm1, log, log1p, sqrt, abs, sign, relu, sigmoid, tanh, erf, clamp, maximum, minimum,
  sum, mean, max, min, argmax, argmin, reshape, view, permute, transpose, flatten, squeeze, unsqueeze, expand,
  slice, narrow, select, cat, stack, pad, matmul, where, eq, ne, lt, le, gt, ge, contiguous, clone, variance, std,
  gather, scatter, scatterAdd, indexSelect, sort, argsort, topk, kthvalue, median,
  split, chunk, unbind, repeat, tile, flip, roll, maskedFill, cumsum, prod, logsumexp, norm, unflatten,
} from './autograd/functional';
export {
  conv1d, conv2d, convTranspose2d, batchNorm, maxPool1d, maxPool2d, avgPool1d, avgPool2d, adaptiveAvgPool1d, adaptiveAvgPool2d,
  adaptiveMaxPool2d, interpolate, pixelShuffle, pixelUnshuffle, dropout2d,
  linear, dropout, logSoftmax, softmax, crossEntropy, mseLoss,
  leakyRelu, elu, selu, silu, gelu, softplus, hardtanh, relu6, logSigmoid, mish, layerNorm, groupNorm, instanceNorm,
  nllLoss, l1Loss, smoothL1Loss, huberLoss, binaryCrossEntropy, binaryCrossEntropyWithLogits, oneHot, embedding,
} from './autograd/functional';
export * as nn from './models/nn/index';
export * as data from './models/data';
export { resnet18, resnet34, plain18, plain34, ResNet, BasicBlock, PlainBlock, conv3x3, conv1x1 } from './models/resnet';
export type { ResNetOptions, Variant } from './models/resnet';
export * as optim from './lib/optim/index';
export {
  SGD, Adam, AdamW, RMSprop, Adagrad, NAdam, RAdam, Adamax, Adadelta, clipGradNorm, clipGradValue,
} from './lib/optim/index';
export {
  StepLR, MultiStepLR, CosineAnnealingLR, OneCycleLR, LinearLR, SequentialLR, ExponentialLR, ConstantLR, LambdaLR, MultiplicativeLR,
  ReduceLROnPlateau, CosineAnnealingWarmRestarts, PolynomialLR, CyclicLR, ChainedScheduler,
} from './lib/optim/index';
export { saveStateDict, loadStateDict as loadStateDictFile, saveCheckpoint, loadCheckpoint, tensorsWithPrefix } from './lib/io/checkpoint';
export type {
  CheckpointValue, CheckpointTensor, CheckpointContents, LoadedCheckpoint, LoadedTensor, SaveCheckpointOptions, StateDictModule,
} from './lib/io/checkpoint';
export { readSafetensors, writeSafetensors } from './lib/io/safetensors';
export type { SafetensorsDType, SafetensorsData, SafetensorsTensor, SafetensorsTensors, SafetensorsFile } from './lib/io/safetensors';
export { setNumThreads, getNumThreads, shutdownThreads } from './lib/platform/threads';
export { setWinograd, getWinograd } from './lib/kernels/winograd';
