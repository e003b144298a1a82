/**
 * A training checkpoint written and resumed the way a user's project would, through the public
 * barrel only and without casts. tests/lib/io/checkpoint.test.ts runs it and also type-checks this
 * file under a strict consumer's flags (exactOptionalPropertyTypes, noUncheckedIndexedAccess): what
 * loadCheckpoint returns must go straight into loadStateDict. Not a spec file.
 */
import {
  loadCheckpoint, manualSeed, mseLoss, nn, saveCheckpoint, SGD, StepLR, Tensor, tensorsWithPrefix,
} from '../../index';
import type { CheckpointTensor, optim } from '../../index';

export interface Training {
  model: nn.Sequential;
  optimizer: SGD;
  scheduler: StepLR;
}

export function makeTraining(): Training {
  manualSeed(3);
  const model = new nn.Sequential(new nn.Linear(3, 4), new nn.BatchNorm1d(4), new nn.ReLU(), new nn.Linear(4, 2));
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const scheduler = new StepLR(optimizer, { stepSize: 1, gamma: 0.5 });
  return { model, optimizer, scheduler };
}

export function trainStep(t: Training, x: Tensor, y: Tensor): number {
  const loss = mseLoss(t.model.forward(x), y);
  t.optimizer.zeroGrad();
  loss.backward();
  t.optimizer.step();
  t.scheduler.step();
  return loss.item();
}

export function save(file: string, t: Training, epoch: number): void {
  const integers = t.model.integerStateKeys();
  const tensors: Record<string, CheckpointTensor> = {};
  for (const [name, p] of Object.entries(t.model.stateDict())) {
    tensors[`model.${name}`] = { shape: p.shape, data: p.data, integer: integers.has(name) };
  }
  const optimizer: optim.OptimizerStateDict<optim.SGDHyperParams> = t.optimizer.stateDict();
  saveCheckpoint(file, { tensors, state: { epoch, optimizer, scheduler: t.scheduler.stateDict() } });
}

/** Restores `t` from `file`; returns the saved epoch. */
export function resume(file: string, t: Training): number {
  const ck = loadCheckpoint(file);
  t.model.loadStateDict(tensorsWithPrefix(ck.tensors, 'model.'));
  t.optimizer.loadStateDict(ck.state.optimizer);
  t.scheduler.loadStateDict(ck.state.scheduler);
  const epoch = ck.state.epoch;
  if (typeof epoch !== 'number') throw new Error(`${file}: epoch is not a number`);
  return epoch;
}
