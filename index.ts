/**
 * The public API. Import from here: `import { tensor, nn, optim, resnet18 } from 'tsgrad'`.
 */
export { Tensor } from './autograd/tensor';
export type { DType, FloatArray, NestedArray, TensorLike } from './autograd/tensor';
export {
  tensor, zeros, ones, full, zerosLike, onesLike, fullLike, arange, rand, randn, randint,
} from './autograd/creation';
export type { TensorOptions, RandomOptions } from './autograd/creation';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled } from './autograd/tape';
export type { BackwardOptions } from './autograd/tape';
export { gradcheck, assertGradcheck } from './autograd/gradcheck';
export type { GradcheckOptions, GradcheckReport } from './autograd/gradcheck';
export { manualSeed, Random } from './lib/random';
export * as F from './autograd/functional';
export {
  add, sub, mul, div, pow, neg, exp, log, sqrt, abs, relu, sigmoid, tanh, clamp, maximum, minimum,
  sum, mean, max, min, argmax, reshape, view, permute, transpose, flatten, squeeze, unsqueeze, expand,
  slice, narrow, cat, stack, pad, matmul, where, eq, ne, lt, le, gt, ge, contiguous, clone,
} from './autograd/functional';
