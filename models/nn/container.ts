import { fail } from '../../lib/core/errors';
import * as F from '../../autograd/functional';
import type { Tensor } from '../../autograd/tensor';
import { Module } from './module';

/** Runs its children in order; children are named 0, 1, 2, ... as in PyTorch. */
export class Sequential extends Module {
  private readonly count: number;

  constructor(...layers: Module[]) {
    super();
    layers.forEach((m, i) => {
      if (!(m instanceof Module)) fail('Sequential', `argument ${i} is not a Module`);
      this.registerModule(String(i), m);
    });
    this.count = layers.length;
  }

  /**
   * The registered children '0', '1', … read afresh, so `seq[0] = new Linear(…)` (which replaces
   * the registered child) changes what forward() runs as well as what parameters() returns.
   */
  private get layers(): Module[] {
    return Array.from({ length: this.count }, (_, i) => this.getModule(String(i)));
  }

  get length(): number {
    return this.layers.length;
  }

  at(i: number): Module {
    const m = this.layers[i < 0 ? i + this.layers.length : i];
    if (!m) fail('Sequential', `index ${i} out of range for ${this.layers.length} layers`);
    return m;
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
