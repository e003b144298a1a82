/**
 * One runner per PyTorch functional op: read the case's inputs, map PyTorch's F.<op> parameters
 * (names, defaults, int-or-pair forms, None) onto tsgrad's public API, run forward and backward,
 * and return what was computed. Semantics that tsgrad's functions do not cover directly but that
 * PyTorch defines as plain layout changes (unbatched CHW inputs, conv2d's padding='same') are
 * mapped here through public ops; anything else tsgrad does not support is reported as an error,
 * never approximated.
 */
import { F, onesLike, tensor, type Tensor } from '../../index';
import { CaseError, Params } from './params';
import { missing, valueOf, type Actuals, type OpContext, type OpSpec } from './op_context';
import type { Json } from './manifest';
import { RESNET18 } from './resnet';

/**
 * Records the forward outputs, then (when the case expects gradients) runs backward from
 * `gradout.output`, or from 1 for a scalar output, and records the gradient of each
 * differentiable input.
 */
function forwardBackward(ctx: OpContext, outputs: Record<string, Tensor>, differentiable: Record<string, Tensor>): Actuals {
  const actual: Actuals = new Map();
  for (const [name, t] of Object.entries(outputs)) actual.set(`out.${name}`, valueOf(t));
  const out = outputs.output;
  const seed = ctx.io.optionalTensor('gradout.output');
  const wantsGrads = ctx.io.withPrefix('grad.').length > 0;
  if (!wantsGrads) return actual;
  let reason = '';
  if (!out.requiresGrad) reason = 'the output does not require grad';
  else if (seed === null && out.numel() !== 1) reason = `the output has shape [${out.shape.join(', ')}], so backward needs gradout.output, which the file lacks`;
  // A one-element output of any shape is seeded with 1, as PyTorch's backward() does for it.
  if (reason === '') out.backward(seed ?? onesLike(out));
  for (const [name, t] of Object.entries(differentiable)) {
    if (reason !== '') actual.set(`grad.${name}`, missing(reason));
    else actual.set(`grad.${name}`, t.grad ? valueOf(t.grad) : missing(`no gradient reached in.${name}`));
  }
  return actual;
}

/** PyTorch's conv and pool ops accept an unbatched [C, H, W] input as a batch of one. */
function batched(where: string, x: Tensor): { x: Tensor; unbatch: (y: Tensor) => Tensor } {
  if (x.ndim === 4) return { x, unbatch: (y) => y };
  if (x.ndim === 3) return { x: F.unsqueeze(x, 0), unbatch: (y) => F.squeeze(y, 0) };
  throw new CaseError(`${where}: in.input must be [N, C, H, W] or unbatched [C, H, W], got [${x.shape.join(', ')}]`);
}

function diffInputs(entries: [string, Tensor | null][]): Record<string, Tensor> {
  const r: Record<string, Tensor> = {};
  for (const [k, t] of entries) if (t !== null) r[k] = t;
  return r;
}

/** max_pool2d / avg_pool2d: stride None (or an empty list) means stride = kernel_size. */
function poolStride(p: Params, kernel: [number, number]): [number, number] {
  const v = p.rawValue('stride');
  if (v === undefined || (Array.isArray(v) && v.length === 0)) return kernel;
  return p.asPair('stride', v, 1);
}

/** F.softmax / F.log_softmax with dim=None: PyTorch's legacy _get_softmax_dim rule. */
function softmaxDim(p: Params, ndim: number): number {
  if (!p.has('dim')) return ndim === 0 || ndim === 1 || ndim === 3 ? 0 : 1;
  return p.number('dim', 0, (v) => Number.isSafeInteger(v), 'an integer');
}

const conv2d: OpSpec = {
  params: ['stride', 'padding', 'dilation', 'groups'],
  inputs: ['input', 'weight', 'bias'],
  gradOutputs: ['output'],
  modelState: false,
  run(ctx) {
    const p = new Params(ctx.where, ctx.params, this.params);
    const stride = p.pair('stride', [1, 1], 1);
    const dilation = p.pair('dilation', [1, 1], 1);
    const groups = p.int('groups', 1, 1);
    const input = ctx.io.tensor('in.input', { requiresGrad: true });
    const weight = ctx.io.tensor('in.weight', { requiresGrad: true });
    const bias = ctx.io.optionalTensor('in.bias', { requiresGrad: true });
    if (weight.ndim !== 4) throw new CaseError(`${ctx.where}: in.weight must be [out, in/groups, kh, kw], got [${weight.shape.join(', ')}]`);
    const b = batched(ctx.where, input);
    let x = b.x;
    let padding: [number, number];
    const rawPadding: Json | undefined = p.rawValue('padding');
    if (rawPadding === 'valid') padding = [0, 0];
    else if (rawPadding === 'same') {
      if (stride[0] !== 1 || stride[1] !== 1) p.fail(`padding='same' is not supported for strided convolutions (stride [${stride.join(', ')}]), as in PyTorch`);
      // PyTorch pads total = dilation·(k − 1) per dim, the odd element on the bottom/right.
      const total = [dilation[0] * (weight.shape[2] - 1), dilation[1] * (weight.shape[3] - 1)];
      const lo = total.map((t) => Math.floor(t / 2));
      const hi = total.map((t, i) => t - lo[i]);
      if (lo[0] === hi[0] && lo[1] === hi[1]) padding = [lo[0], lo[1]];
      else {
        x = F.pad(x, [lo[1], hi[1], lo[0], hi[0]]);
        padding = [0, 0];
      }
    } else if (typeof rawPadding === 'string') {
      return p.fail(`parameter 'padding' must be an integer, a pair, 'valid' or 'same', got ${JSON.stringify(rawPadding)}`);
    } else padding = p.pair('padding', [0, 0], 0);
    const y = b.unbatch(F.conv2d(x, weight, bias, { stride, padding, dilation, groups }));
    return forwardBackward(ctx, { output: y }, diffInputs([['input', input], ['weight', weight], ['bias', bias]]));
  },
};

const batchNorm: OpSpec = {
  params: ['training', 'momentum', 'eps'],
  inputs: ['input', 'running_mean', 'running_var', 'weight', 'bias'],
  gradOutputs: ['output'],
  modelState: false,
  run(ctx) {
    const p = new Params(ctx.where, ctx.params, this.params);
    const training = p.bool('training', false);
    // F.batch_norm's momentum is a float; None (the module's cumulative average) is not accepted there.
    if (ctx.params.momentum === null) p.fail(`parameter 'momentum' must be a number for F.batch_norm, got null`);
    const momentum = p.number('momentum', 0.1);
    const eps = p.number('eps', 1e-5);
    const input = ctx.io.tensor('in.input', { requiresGrad: true });
    const runningMean = ctx.io.optionalTensor('in.running_mean');
    const runningVar = ctx.io.optionalTensor('in.running_var');
    const weight = ctx.io.optionalTensor('in.weight', { requiresGrad: true });
    const bias = ctx.io.optionalTensor('in.bias', { requiresGrad: true });
    const y = F.batchNorm(input, runningMean, runningVar, weight, bias, { training, momentum, eps });
    const outputs: Record<string, Tensor> = { output: y };
    // The running statistics are updated in place: their values after the call are the results.
    if (runningMean) outputs.running_mean = runningMean;
    if (runningVar) outputs.running_var = runningVar;
    return forwardBackward(ctx, outputs, diffInputs([['input', input], ['weight', weight], ['bias', bias]]));
  },
};

const maxPool2d: OpSpec = {
  params: ['kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices'],
  inputs: ['input'],
  gradOutputs: ['output'],
  modelState: false,
  run(ctx) {
    const p = new Params(ctx.where, ctx.params, this.params);
    p.onlyValues('return_indices', [false], 'tsgrad.maxPool2d does not return the argmax indices');
    const kernelSize = p.pair('kernel_size', undefined, 1);
    const stride = poolStride(p, kernelSize);
    const padding = p.pair('padding', [0, 0], 0);
    const dilation = p.pair('dilation', [1, 1], 1);
    const ceilMode = p.bool('ceil_mode', false);
    const input = ctx.io.tensor('in.input', { requiresGrad: true });
    const b = batched(ctx.where, input);
    const y = b.unbatch(F.maxPool2d(b.x, { kernelSize, stride, padding, dilation, ceilMode }));
    return forwardBackward(ctx, { output: y }, { input });
  },
};

const avgPool2d: OpSpec = {
  params: ['kernel_size', 'stride', 'padding', 'ceil_mode', 'count_include_pad', 'divisor_override'],
  inputs: ['input'],
  gradOutputs: ['output'],
  modelState: false,
  run(ctx) {
    const p = new Params(ctx.where, ctx.params, this.params);
    const kernelSize = p.pair('kernel_size', undefined, 1);
    const stride = poolStride(p, kernelSize);
    const padding = p.pair('padding', [0, 0], 0);
    const ceilMode = p.bool('ceil_mode', false);
    const countIncludePad = p.bool('count_include_pad', true);
    // PyTorch only rejects 0; any other integer is passed on for tsgrad to accept or refuse.
    const divisorOverride = p.has('divisor_override')
      ? p.number('divisor_override', 1, (v) => Number.isSafeInteger(v) && v !== 0, 'a non-zero integer or null')
      : undefined;
    const input = ctx.io.tensor('in.input', { requiresGrad: true });
    const b = batched(ctx.where, input);
    const y = b.unbatch(F.avgPool2d(b.x, { kernelSize, stride, padding, ceilMode, countIncludePad, divisorOverride }));
    return forwardBackward(ctx, { output: y }, { input });
  },
};

const adaptiveAvgPool2d: OpSpec = {
  params: ['output_size'],
  inputs: ['input'],
  gradOutputs: ['output'],
  modelState: false,
  run(ctx) {
    const p = new Params(ctx.where, ctx.params, this.params);
    const raw = p.rawValue('output_size');
    const isSize = (v: Json): v is number | null => v === null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1);
    let outputSize: number | (number | null)[];
    if (typeof raw === 'number' && isSize(raw)) outputSize = raw;
    else if (Array.isArray(raw) && raw.length === 2 && raw.every(isSize)) outputSize = raw as (number | null)[];
    else return p.fail(`parameter 'output_size' must be a positive integer or a pair of positive integers / null, got ${JSON.stringify(raw ?? null)}`);
    const input = ctx.io.tensor('in.input', { requiresGrad: true });
    const b = batched(ctx.where, input);
    const y = b.unbatch(F.adaptiveAvgPool2d(b.x, outputSize));
    return forwardBackward(ctx, { output: y }, { input });
  },
};

const linear: OpSpec = {
  params: [],
  inputs: ['input', 'weight', 'bias'],
  gradOutputs: ['output'],
  modelState: false,
  run(ctx) {
    new Params(ctx.where, ctx.params, this.params);
    const input = ctx.io.tensor('in.input', { requiresGrad: true });
    const weight = ctx.io.tensor('in.weight', { requiresGrad: true });
    const bias = ctx.io.optionalTensor('in.bias', { requiresGrad: true });
    const y = F.linear(input, weight, bias);
    return forwardBackward(ctx, { output: y }, diffInputs([['input', input], ['weight', weight], ['bias', bias]]));
  },
};

const relu: OpSpec = {
  // inplace only decides whether PyTorch overwrites its input; values and gradient are the same.
  params: ['inplace'],
  inputs: ['input'],
  gradOutputs: ['output'],
  modelState: false,
  run(ctx) {
    const p = new Params(ctx.where, ctx.params, this.params);
    p.bool('inplace', false);
    const input = ctx.io.tensor('in.input', { requiresGrad: true });
    return forwardBackward(ctx, { output: F.relu(input) }, { input });
  },
};

function softmaxLike(fn: (x: Tensor, dim: number) => Tensor): OpSpec {
  return {
    params: ['dim'],
    inputs: ['input'],
    gradOutputs: ['output'],
    modelState: false,
    run(ctx) {
      const p = new Params(ctx.where, ctx.params, this.params);
      const input = ctx.io.tensor('in.input', { requiresGrad: true });
      const y = fn(input, softmaxDim(p, input.ndim));
      return forwardBackward(ctx, { output: y }, { input });
    },
  };
}

const crossEntropy: OpSpec = {
  params: ['reduction', 'label_smoothing', 'ignore_index', 'weight'],
  inputs: ['input', 'target', 'weight'],
  gradOutputs: ['output'],
  modelState: false,
  run(ctx) {
    const p = new Params(ctx.where, ctx.params, this.params);
    const reduction = p.choice('reduction', ['mean', 'sum', 'none'] as const, 'mean');
    const labelSmoothing = p.number('label_smoothing', 0);
    const ignoreIndex = p.number('ignore_index', -100, (v) => Number.isSafeInteger(v), 'an integer');
    const weightList = p.numberList('weight');
    if (weightList !== undefined && ctx.io.has('in.weight')) p.fail(`class weights are given twice, as parameter 'weight' and as tensor in.weight`);
    const input = ctx.io.tensor('in.input', { requiresGrad: true });
    let weight: Tensor | null = ctx.io.optionalTensor('in.weight');
    if (weightList !== undefined) weight = tensor(weightList, { dtype: ctx.dtype });
    const options = { reduction, labelSmoothing, ignoreIndex, weight };
    const targetDType = ctx.io.dtypeOf('in.target');
    if (targetDType === 'F64' || targetDType === 'F32') {
      // Class probabilities of the input's shape (torch's cross_entropy_loss_prob_target), differentiable in the target too.
      if (JSON.stringify(ctx.io.shapeOf('in.target')) !== JSON.stringify(input.shape)) {
        throw new CaseError(`${ctx.where}: in.target is ${targetDType} of shape [${ctx.io.shapeOf('in.target')!.join(', ')}]: class probabilities must have in.input's shape [${input.shape.join(', ')}], class indices must be int64`);
      }
      const probs = ctx.io.tensor('in.target', { requiresGrad: true });
      return forwardBackward(ctx, { output: F.crossEntropy(input, probs, options) }, { input, target: probs });
    }
    const target = ctx.io.integers('in.target');
    // crossEntropy takes torch's forms itself: [C] with a 0-d target, [N, C] with [N], [N, C, d1, ...] with [N, d1, ...].
    const expectedTargetShape = input.ndim === 1 ? [] : [input.shape[0], ...input.shape.slice(2)];
    if (input.ndim === 0 || JSON.stringify(target.shape) !== JSON.stringify(expectedTargetShape)) {
      throw new CaseError(`${ctx.where}: in.target has shape [${target.shape.join(', ')}] but in.input [${input.shape.join(', ')}] needs [${expectedTargetShape.join(', ')}]`);
    }
    const output = F.crossEntropy(input, tensor(target.values, { dtype: ctx.dtype, shape: target.shape }), options);
    return forwardBackward(ctx, { output }, { input });
  },
};

export const OPS: Readonly<Record<string, OpSpec>> = {
  conv2d,
  batch_norm: batchNorm,
  max_pool2d: maxPool2d,
  avg_pool2d: avgPool2d,
  adaptive_avg_pool2d: adaptiveAvgPool2d,
  linear,
  relu,
  log_softmax: softmaxLike(F.logSoftmax),
  softmax: softmaxLike(F.softmax),
  cross_entropy: crossEntropy,
  resnet18: RESNET18,
};
