import { fail, fmtValue } from '../../lib/core/errors';
import * as F from '../../autograd/functional';
import type { Tensor } from '../../autograd/tensor';
import { Module } from './module';

/**
 * Runs its children in order; children are named 0, 1, 2, ... as in PyTorch. As torch's
 * Sequential runs every module in _modules, a child added later (append, registerModule) is run,
 * counted by length and reached by at() and iteration, by position.
 */
export class Sequential extends Module {
  constructor(...layers: Module[]) {
    super();
    layers.forEach((m, i) => {
      if (!(m instanceof Module)) fail('Sequential', `argument ${i} is not a Module`);
      this.registerModule(String(i), m);
    });
  }

  /**
   * The registered children read afresh, so `seq[0] = new Linear(…)` (which replaces the
   * registered child) changes what forward() runs as well as what parameters() returns.
   */
  private get layers(): Module[] {
    return this.registeredModules();
  }

  get length(): number {
    return this.layers.length;
  }

  at(i: number): Module {
    const layers = this.layers;
    const m = Number.isInteger(i) ? layers[i < 0 ? i + layers.length : i] : undefined;
    if (!m) fail('Sequential', `index ${i} out of range for ${layers.length} layers`);
    return m;
  }

  /** Adds `m` at the end under the next index (torch's Sequential.append); returns this Sequential. */
  append(m: Module): this {
    if (!(m instanceof Module)) fail('Sequential', `append: expected a Module, got ${fmtValue(m)}`);
    this.registerModule(String(this.layers.length), m);
    return this;
  }

  /** The layers in order, as `for (const m of seq)` iterates a torch nn.Sequential. */
  [Symbol.iterator](): Iterator<Module> {
    return this.layers[Symbol.iterator]();
  }

  forward(x: Tensor): Tensor {
    for (const m of this.layers) x = m.forward(x);
    return x;
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return F.flatten(x, this.startDim, this.endDim);
  }

  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}
