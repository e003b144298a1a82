/**
 * The resnet18 case: one training step of a (narrow) torchvision ResNet18 against PyTorch.
 *
 *   1. resnet18({numClasses, width, variant, dtype}), strict loadStateDict from model.*;
 *   2. train-mode forward on in.input, mean cross-entropy against in.target, backward:
 *      out.logits, out.loss, grad.input, grad.model.<param>, out.model.<key> (running statistics
 *      and num_batches_tracked after the forward);
 *   3. out.eval_logits: a fresh model loaded from model.*, eval-mode forward (initial statistics);
 *   4. one optimizer step from the gradients of step 2 with params.optimizer: step.model.<key>.
 */
import { Adam, AdamW, F, noGrad, resnet18, SGD, type nn, type Variant } from '../../index';
import type { ArrayData } from './compare';
import { describe, type JsonObject } from './manifest';
import { missing, valueOf, type Actuals, type OpContext, type OpSpec } from './op_context';
import { CaseError, Params } from './params';

/** What the runner needs of an optimizer: tsgrad's SGD, Adam and AdamW all have it. */
interface Stepper {
  step(): void;
}

type OptimizerFactory = (params: nn.Parameter[]) => Stepper;

/**
 * Implementation switches of torch.optim that select a code path but not the update rule; they
 * are accepted only at the values that keep torch on its plain single-tensor path, so a case
 * never claims agreement with an implementation tsgrad does not mirror.
 */
const IMPLEMENTATION_FLAGS: Readonly<Record<string, readonly (boolean | null)[]>> = {
  foreach: [null, false],
  differentiable: [false],
  capturable: [false],
  fused: [null, false],
};

const SGD_PARAMS = ['lr', 'momentum', 'dampening', 'weight_decay', 'nesterov', 'maximize', 'foreach', 'differentiable'];
const ADAM_PARAMS = ['lr', 'betas', 'eps', 'weight_decay', 'amsgrad', 'maximize', 'foreach', 'capturable', 'differentiable', 'fused'];

/** torch.optim.<type>(params, **rest) → the matching tsgrad optimizer, validated before any work is done. */
export function parseOptimizer(where: string, cfg: JsonObject): OptimizerFactory {
  const type = cfg.type;
  if (typeof type !== 'string') throw new CaseError(`${where}: optimizer.type must be 'sgd', 'adam' or 'adamw', got ${describe(type)}`);
  const rest: JsonObject = { ...cfg };
  delete rest.type;
  const kind = type.toLowerCase();
  const at = `${where} optimizer ${kind}`;
  if (kind === 'sgd') {
    const p = new Params(at, rest, SGD_PARAMS);
    checkFlags(p);
    // torch 1.13's SGD has no default learning rate (lr=required).
    if (!p.has('lr')) p.fail(`parameter 'lr' is required for torch.optim.SGD`);
    const options = {
      lr: p.number('lr', 0),
      momentum: p.number('momentum', 0),
      dampening: p.number('dampening', 0),
      weightDecay: p.number('weight_decay', 0),
      nesterov: p.bool('nesterov', false),
      maximize: p.bool('maximize', false),
    };
    return (params) => new SGD(params, options);
  }
  if (kind === 'adam' || kind === 'adamw') {
    const p = new Params(at, rest, ADAM_PARAMS);
    checkFlags(p);
    let betas: [number, number] = [0.9, 0.999];
    const rawBetas = p.numberList('betas');
    if (rawBetas !== undefined) {
      if (rawBetas.length !== 2) p.fail(`parameter 'betas' must be a pair of numbers, got ${describe(rawBetas)}`);
      betas = [rawBetas[0], rawBetas[1]];
    }
    const options = {
      lr: p.number('lr', 1e-3),
      betas,
      eps: p.number('eps', 1e-8),
      weightDecay: p.number('weight_decay', kind === 'adamw' ? 1e-2 : 0),
      amsgrad: p.bool('amsgrad', false),
      maximize: p.bool('maximize', false),
    };
    return kind === 'adam' ? (params) => new Adam(params, options) : (params) => new AdamW(params, options);
  }
  throw new CaseError(`${where}: unknown optimizer type ${JSON.stringify(type)} (supported: sgd, adam, adamw)`);
}

function checkFlags(p: Params): void {
  for (const [flag, allowed] of Object.entries(IMPLEMENTATION_FLAGS)) {
    p.onlyValues(flag, allowed, `tsgrad implements torch's single-tensor path only; accepted: ${allowed.map(String).join(', ')}`);
  }
}

export const RESNET18: OpSpec = {
  params: ['num_classes', 'width', 'variant', 'optimizer'],
  inputs: ['input', 'target'],
  gradOutputs: [],
  modelState: true,
  run(ctx: OpContext): Actuals {
    const p = new Params(ctx.where, ctx.params, this.params);
    const numClasses = p.int('num_classes', 1000, 1);
    const width = p.int('width', 64, 1);
    const variant: Variant = p.choice('variant', ['imagenet', 'cifar'] as const, 'imagenet');
    const optimizerCfg = p.object('optimizer');
    const makeOptimizer = optimizerCfg ? parseOptimizer(ctx.where, optimizerCfg) : null;

    const state = new Map<string, ArrayData>();
    for (const name of ctx.io.withPrefix('model.')) state.set(name.slice('model.'.length), ctx.io.arrayData(name));
    const build = (): nn.Module => {
      const m = resnet18({ numClasses, width, variant, dtype: ctx.dtype });
      m.loadStateDict(state, { strict: true });
      return m;
    };
    const target = ctx.io.integers('in.target');
    const actual: Actuals = new Map();

    const model = build();
    model.train();
    const x = ctx.io.tensor('in.input', { requiresGrad: true });
    const logits = model.call(x);
    const loss = F.crossEntropy(logits, target.values, { reduction: 'mean' });
    actual.set('out.logits', valueOf(logits));
    actual.set('out.loss', valueOf(loss));
    loss.backward();
    actual.set('grad.input', x.grad ? valueOf(x.grad) : missing('no gradient reached in.input'));
    const paramKeys = new Set<string>();
    for (const [key, param] of model.namedParameters()) {
      paramKeys.add(key);
      actual.set(`grad.model.${key}`, param.grad ? valueOf(param.grad) : missing(`parameter ${key} received no gradient`));
    }
    for (const [key, t] of Object.entries(model.stateDict())) actual.set(`out.model.${key}`, valueOf(t));

    const fresh = build();
    fresh.eval();
    const evalInput = ctx.io.tensor('in.input');
    actual.set('out.eval_logits', valueOf(noGrad(() => fresh.call(evalInput))));

    if (makeOptimizer) {
      makeOptimizer(model.parameters()).step();
      // Buffers are not stepped; they are offered in case a reference set lists the full state dict.
      for (const [key, t] of Object.entries(model.stateDict())) actual.set(`step.model.${key}`, valueOf(t, !paramKeys.has(key)));
    } else {
      for (const key of paramKeys) actual.set(`step.model.${key}`, missing(`params.optimizer is absent, so no step was taken`));
    }
    return actual;
  },
};
