/**
 * The promise of README and docs/DESIGN.md, end to end as a user relies on it: training a ResNet
 * gives bit-identical losses, parameters, buffers and optimizer state at 1, 2 and 3 threads, and
 * when the thread count changes in the middle of a run. The kernel tests compare each parallel
 * kernel at 1 and 2 threads; this runs whole training steps (Winograd and direct convs, deferred
 * weight gradients, batch norm, pooling, the optimizers' multi-tensor updates) through the public
 * modules. Finite values are compared with Object.is (so -0 and +0 differ); NaNs only by place.
 */
import { expect } from 'chai';
import { rand, randint, randn } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import type { DType } from '../../autograd/tensor';
import { clipGradNorm } from '../../lib/optim/clip_grad';
import { Adam, AdamW } from '../../lib/optim/adam';
import type { Optimizer } from '../../lib/optim/optimizer';
import { SGD } from '../../lib/optim/sgd';
import { getNumThreads, setContentionGuard, setNumThreads, threadStats, waitForThreads } from '../../lib/platform/threads';
import { manualSeed } from '../../lib/random';
import { Dropout, Linear, Module, Sequential } from '../../models/nn/index';
import { resnet18, type Variant } from '../../models/resnet';

interface Run {
  dtype: DType;
  variant: Variant;
  width: number;
  batch: number;
  size: number;
  optimizer: 'sgd' | 'adam' | 'adamw';
  /** Eval-mode batch norm, a seeded dropout before the head, a smoothed and weighted loss, clipping. */
  extras: boolean;
}

/** Every number a run leaves behind, by name: losses, parameters and buffers, optimizer state. */
type Snapshot = Map<string, ArrayLike<number>>;

/** Trains `threads.length` steps, step i at threads[i] threads (the model is built at threads[0]). */
function train(r: Run, threads: readonly number[]): Snapshot {
  setNumThreads(threads[0]);
  manualSeed(5);
  const model = resnet18({ numClasses: 10, width: r.width, variant: r.variant, dtype: r.dtype });
  if (r.extras) {
    // torchvision's fine-tuning idiom model.fc = nn.Sequential(nn.Dropout(p), nn.Linear(...)).
    const head = new Sequential(new Dropout(0.25), new Linear(model.fc.inFeatures, 10, { dtype: r.dtype }));
    (model as unknown as { fc: Module }).fc = head;
    model.eval();
    head.train(); // dropout draws its mask from the global generator at every step
  }
  const params = model.parameters();
  let opt: Optimizer;
  if (r.optimizer === 'sgd') opt = new SGD(params, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  else if (r.optimizer === 'adam') opt = new Adam(params, { lr: 1e-3, weightDecay: 1e-4, amsgrad: true });
  else opt = new AdamW(params, { lr: 1e-3, weightDecay: 1e-2, amsgrad: true });
  const x = randn([r.batch, 3, r.size, r.size], { dtype: r.dtype });
  const y = randint(0, 10, [r.batch]);
  const classWeight = rand([10], { dtype: r.dtype });
  const losses: number[] = [];
  for (const n of threads) {
    if (getNumThreads() !== n) setNumThreads(n);
    opt.zeroGrad();
    const out = model.forward(x);
    const loss = r.extras ? F.crossEntropy(out, y, { labelSmoothing: 0.1, weight: classWeight }) : F.crossEntropy(out, y);
    loss.backward();
    if (r.extras) losses.push(clipGradNorm(params, 0.5));
    opt.step();
    losses.push(loss.item());
  }
  const snap: Snapshot = new Map([['losses', losses]]);
  for (const [k, t] of Object.entries(model.stateDict())) snap.set(`model.${k}`, t.data);
  for (const [i, st] of Object.entries(opt.stateDict().state)) {
    for (const [k, v] of Object.entries(st)) snap.set(`optimizer.${i}.${k}`, ArrayBuffer.isView(v) ? v as unknown as ArrayLike<number> : [v as number]);
  }
  return snap;
}

/** The first entry where b differs from a (NaN matches NaN), or null. */
function firstDifference(a: Snapshot, b: Snapshot): string | null {
  if (a.size !== b.size) return `${a.size} entries against ${b.size}`;
  for (const [k, u] of a) {
    const v = b.get(k);
    if (v === undefined || v.length !== u.length) return `${k}: missing or of another length`;
    for (let i = 0; i < u.length; i++) {
      if (Number.isNaN(u[i]) && Number.isNaN(v[i])) continue;
      if (!Object.is(u[i], v[i])) return `${k}[${i}]: ${u[i]} against ${v[i]}`;
    }
  }
  return null;
}

describe('training a ResNet: bit-identical for any thread count', function () {
  this.timeout(120000);
  const saved = getNumThreads();
  before(() => {
    // The contention guard may run a call on one thread (results unchanged); off so that the
    // splits and deferrals really happen on a loaded machine.
    setContentionGuard(false);
    setNumThreads(3);
    waitForThreads();
  });
  after(() => {
    setContentionGuard(true);
    setNumThreads(saved);
  });

  const runs: Array<[string, Run]> = [
    ['float32, CIFAR stem (Winograd convs), SGD with Nesterov momentum and weight decay',
      { dtype: 'float32', variant: 'cifar', width: 16, batch: 8, size: 32, optimizer: 'sgd', extras: false }],
    ['float64, ImageNet stem (max pool), Adam with amsgrad; eval-mode batch norm, dropout, label smoothing, class weights, clipping',
      { dtype: 'float64', variant: 'imagenet', width: 8, batch: 6, size: 64, optimizer: 'adam', extras: true }],
    ['float32, CIFAR stem, AdamW with amsgrad; eval-mode batch norm, dropout, label smoothing, class weights, clipping',
      { dtype: 'float32', variant: 'cifar', width: 8, batch: 8, size: 24, optimizer: 'adamw', extras: true }],
  ];
  for (const [name, r] of runs) {
    it(name, () => {
      const one = train(r, [1, 1, 1]);
      const before = threadStats();
      for (const threads of [[2, 2, 2], [3, 3, 3], [1, 2, 1], [3, 1, 2]]) {
        expect(firstDifference(one, train(r, threads)), `threads ${threads.join(' → ')}`).to.equal(null);
      }
      // The comparison means something only if work was split over the workers.
      expect(threadStats().partsSent - before.partsSent).to.be.greaterThan(0);
    });
  }
});
