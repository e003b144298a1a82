/**
 * The tape. Every op applied to tensors that require grad records a Node: the op's table entry,
 * its input tensors, its attributes and whatever the entry declared it saves. backward() sorts the
 * graph topologically from the output and walks it in reverse, summing the gradients of tensors
 * used more than once (a skip connection gets the sum of both paths). Unless retainGraph is set,
 * the walk then frees each node's saved tensors and edges, so memory does not grow step over step
 * and a second backward through the same graph fails with a clear message. Each saved tensor's
 * version is recorded (tensor.ts), and backward refuses to start if one changed in place since (an
 * optimizer step between forward and backward would otherwise give a wrong gradient). A gradient may come
 * back still being written by a worker (a convolution's weight gradient, deferred: see
 * lib/kernels/parallel.ts); the walk settles each gradient before it reads it, and all of them
 * before backward returns, so no caller ever sees one unfinished.
 */
import { checkKnownKeys, fail, fmtShape, fmtValue } from '../lib/core/errors';
import { shapesEqual } from '../lib/core/shape';
import { accumulate, addInto } from '../lib/kernels/elementwise';
import { setOpsAhead, settle, settleAll } from '../lib/kernels/parallel';
import { Tensor } from './tensor';

// ---- grad mode ----

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

export function setGradEnabled(on: boolean): void {
  if (typeof on !== 'boolean') fail('setGradEnabled', `mode must be a boolean, got ${fmtValue(on)}`);
  gradEnabled = on;
}

/**
 * Runs fn with recording off (PyTorch's torch.no_grad()), restoring the previous mode after. fn must
 * be synchronous: the mode is restored when fn returns, so the code after an `await` inside an async
 * fn would run with recording back on; a returned Promise is therefore an error.
 */
export function noGrad<T>(fn: () => T): T {
  return withGradMode('noGrad', false, fn);
}

/** Runs fn with recording on, even inside noGrad (PyTorch's torch.enable_grad()); fn must be synchronous. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode('enableGrad', true, fn);
}

function withGradMode<T>(op: string, mode: boolean, fn: () => T): T {
  if (typeof fn !== 'function') fail(op, `expected a function, got ${fmtValue(fn)}`);
  const prev = gradEnabled;
  gradEnabled = mode;
  try {
    const r = fn();
    if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
      fail(op, 'fn returned a Promise: the grad mode is restored when fn returns, before the code after its first await runs, ' +
        'so that code would run in the previous mode; wrap the synchronous parts instead');
    }
    return r;
  } finally {
    gradEnabled = prev;
  }
}

// ---- nodes ----

/** What a recorded op's backward receives. */
export interface BackwardContext<In, Attrs, Extra> {
  /** The inputs the op declared it saves (others are undefined). */
  readonly inputs: Partial<In>;
  /** Shapes of every input, always kept (sumToShape needs them even when the input is not saved). */
  readonly shapes: { readonly [K in keyof In]?: readonly number[] };
  /** The op's result, if it declared saveOutput. */
  readonly out: Tensor | undefined;
  readonly attrs: Attrs;
  /** Op-specific saved state (argmax indices, batch statistics, ...). */
  readonly extra: Extra;
  /** Which inputs need a gradient; a backward may skip the others. */
  readonly needs: { readonly [K in keyof In]?: boolean };
}

export type GradMap<In> = { [K in keyof In]?: Tensor };

/** One recorded op application. */
export class Node {
  /** Input tensors that require grad, by input name (the graph edges). */
  edges: Map<string, Tensor> | null;
  /** Saved state for backward; null once freed. */
  ctx: BackwardContext<Record<string, Tensor | undefined>, unknown, unknown> | null;
  freed = false;

  constructor(
    readonly op: string,
    readonly backwardFn: (grad: Tensor, ctx: BackwardContext<Record<string, Tensor | undefined>, unknown, unknown>) => GradMap<Record<string, Tensor | undefined>>,
    edges: Map<string, Tensor>,
    ctx: BackwardContext<Record<string, Tensor | undefined>, unknown, unknown>,
    /** The _version of each saved tensor when it was saved: ctx.inputs in order, then ctx.out. */
    readonly savedVersions: readonly number[] = [],
  ) {
    this.edges = edges;
    this.ctx = ctx;
  }

  /**
   * Throws if a saved tensor was modified in place since it was saved (PyTorch's "one of the
   * variables needed for gradient computation has been modified by an inplace operation").
   */
  checkSavedVersions(ctx: BackwardContext<Record<string, Tensor | undefined>, unknown, unknown>): void {
    const versions = this.savedVersions;
    if (versions.length === 0) return;
    let i = 0;
    for (const k in ctx.inputs) {
      const t = ctx.inputs[k];
      if (t === undefined) continue;
      this.checkVersion(t, `input '${k}'`, versions[i++]);
    }
    if (ctx.out !== undefined && i < versions.length) this.checkVersion(ctx.out, 'output', versions[i]);
  }

  private checkVersion(t: Tensor, what: string, expected: number): void {
    const v = t._version;
    if (v === expected) return;
    fail('backward', `a tensor of shape ${fmtShape(t.shape)} (the ${what}) saved by ${this.op} for the gradient was modified in place ` +
      `(by an in-place op such as add_, an optimizer step or loadStateDict) after it was saved: version ${v}, expected ${expected}; ` +
      'compute the loss again after the update');
  }

  /** PyTorch-style name for printing: grad_fn=<AddBackward>. */
  get name(): string {
    return `${this.op[0].toUpperCase()}${this.op.slice(1)}Backward`;
  }
}

// ---- backward ----

export interface BackwardOptions {
  /** Keep the graph's saved tensors so backward can run through it again. */
  retainGraph?: boolean;
}

/** Reverse-mode differentiation from `root`, accumulating into the .grad of leaves. */
export function backward(root: Tensor, grad?: Tensor | number, options: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    fail('backward', `tensor of shape ${fmtShape(root.shape)} does not require grad and has no grad_fn`);
  }
  checkKnownKeys('backward', options, ['retainGraph']);
  if (options.retainGraph !== undefined && typeof options.retainGraph !== 'boolean') {
    fail('backward', `retainGraph must be a boolean, got ${fmtValue(options.retainGraph)}`);
  }
  let seed: Tensor;
  if (grad === undefined) {
    if (root.numel() !== 1) {
      fail('backward', `grad can be implicitly created only for scalar outputs; got shape ${fmtShape(root.shape)}, pass a gradient of that shape`);
    }
    seed = Tensor.empty(root.shape, root.dtype);
    seed.storage.fill(1);
  } else if (typeof grad === 'number') {
    if (root.numel() !== 1) fail('backward', `a number gradient needs a one-element output; got shape ${fmtShape(root.shape)}`);
    seed = Tensor.empty(root.shape, root.dtype);
    seed.storage.fill(grad);
  } else if (!(grad instanceof Tensor)) {
    fail('backward', `gradient must be a Tensor (or a number, or omitted, for a one-element output), got ${fmtValue(grad)}`);
  } else {
    if (!shapesEqual(grad.shape, root.shape)) {
      fail('backward', `gradient has shape ${fmtShape(grad.shape)} but the output has shape ${fmtShape(root.shape)}`);
    }
    if (grad.dtype !== root.dtype) fail('backward', `gradient dtype ${grad.dtype} does not match the output's ${root.dtype}`);
    seed = grad;
  }
  const retain = options.retainGraph ?? false;
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    runBackward(root, seed, retain);
  } catch (e) {
    // Let deferred kernels finish before the caller sees the error (theirs, if any, come second).
    try {
      settleAll();
    } catch {
      // the first error is the one to report
    }
    throw e;
  } finally {
    gradEnabled = prev;
  }
  settleAll();
}

function runBackward(root: Tensor, seed: Tensor, retain: boolean): void {
  if (root.isLeaf) {
    accumulateLeaf(root, seed);
    return;
  }
  const { order, uses } = topologicalOrder(root);
  // Every saved tensor checked before any gradient moves, so a stale graph leaves .grad as it was.
  for (let i = 0; i < order.length; i++) {
    const node = order[i].gradFn as Node;
    if (node.ctx !== null) node.checkSavedVersions(node.ctx);
  }
  const grads = new Map<Tensor, Tensor>();
  // Gradients in `grads` that this backward made and nobody else holds: a second path into the same
  // tensor adds into one of them in place instead of into a new tensor (PyTorch's InputBuffer does
  // the same), which saves an allocation and its zero-fill per residual join.
  const ownedInMap = new Set<Tensor>();
  grads.set(root, seed);
  try {
    walk(order, uses, grads, ownedInMap, retain);
  } finally {
    setOpsAhead(0);
  }
}

function walk(order: readonly Tensor[], uses: Map<Tensor, number>, grads: Map<Tensor, Tensor>, ownedInMap: Set<Tensor>,
  retain: boolean): void {
  for (let i = 0; i < order.length; i++) {
    const t = order[i];
    const g = grads.get(t);
    const node = t.gradFn as Node;
    grads.delete(t);
    if (g !== undefined) ownedInMap.delete(g);
    if (t.retainsGrad && g) accumulateLeaf(t, g);
    if (g === undefined) continue; // no path from the root carried a gradient here
    settle(g.storage);
    if (node.freed || node.ctx === null || node.edges === null) {
      fail('backward', `trying to backward through the graph a second time (the saved tensors of ${node.name} were freed); pass { retainGraph: true } to the first backward() if you need to`);
    }
    setOpsAhead(order.length - 1 - i);
    const inputGrads = node.backwardFn(g, node.ctx);
    let owned: Set<Tensor> | null = null; // worked out only when a leaf without .grad gets a gradient
    for (const [name, input] of node.edges) {
      const gi = (inputGrads as Record<string, Tensor | undefined>)[name];
      if (gi === undefined) continue;
      if (!shapesEqual(gi.shape, input.shape)) {
        fail('backward', `gradient for input '${name}' of ${node.op} has shape ${fmtShape(gi.shape)} but the input has shape ${fmtShape(input.shape)}`);
      }
      if (gi.dtype !== input.dtype) {
        fail('backward', `gradient for input '${name}' of ${node.op} has dtype ${gi.dtype} but the input has dtype ${input.dtype}`);
      }
      if (input.isLeaf) {
        if (input.grad === null && owned === null) {
          owned = ownedGrads(g, node.ctx, node.edges, inputGrads as Record<string, Tensor | undefined>);
        }
        accumulateLeaf(input, gi, owned !== null && owned.has(gi));
      } else {
        const prevGrad = grads.get(input);
        if (prevGrad === undefined) {
          grads.set(input, gi);
          if ((uses.get(input) ?? 0) > 1) {
            if (owned === null) owned = ownedGrads(g, node.ctx, node.edges, inputGrads as Record<string, Tensor | undefined>);
            if (owned.has(gi)) ownedInMap.add(gi);
          }
        } else {
          if (owned === null) owned = ownedGrads(g, node.ctx, node.edges, inputGrads as Record<string, Tensor | undefined>);
          const sum = addGrads(prevGrad, gi, ownedInMap.has(prevGrad), owned.has(gi));
          ownedInMap.delete(prevGrad);
          ownedInMap.add(sum);
          grads.set(input, sum);
        }
      }
    }
    if (!retain) {
      node.freed = true;
      node.ctx = null;
      node.edges = null;
    }
  }
}

/**
 * Non-leaf tensors reachable from root, each after every tensor that consumes it (so its gradient
 * is complete when visited), and how many graph edges lead into each (more than one: its gradient
 * is a sum). Iterative DFS: deep nets must not overflow the JS stack.
 */
function topologicalOrder(root: Tensor): { order: Tensor[]; uses: Map<Tensor, number> } {
  const post: Tensor[] = [];
  const uses = new Map<Tensor, number>();
  const visited = new Set<Tensor>();
  const stack: Array<{ t: Tensor; it: Iterator<Tensor> | null }> = [{ t: root, it: null }];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.it === null) {
      const node = top.t.gradFn as Node;
      if (node.edges === null) {
        fail('backward', `trying to backward through the graph a second time (the saved tensors of ${node.name} were freed); pass { retainGraph: true } to the first backward() if you need to`);
      }
      top.it = node.edges.values();
    }
    const next = top.it.next();
    if (next.done) {
      post.push(top.t);
      stack.pop();
      continue;
    }
    const child = next.value;
    if (!child.isLeaf) uses.set(child, (uses.get(child) ?? 0) + 1);
    if (!child.isLeaf && !visited.has(child)) {
      visited.add(child);
      stack.push({ t: child, it: null });
    }
  }
  return { order: post.reverse(), uses };
}

/**
 * a + b for two gradients of one tensor: into a when this backward owns a exclusively (aOwned), else
 * into b when it owns b (float addition is commutative, so b + a has a + b's bits), else a new tensor.
 */
function addGrads(a: Tensor, b: Tensor, aOwned: boolean, bOwned: boolean): Tensor {
  settle(a.storage);
  settle(b.storage);
  if (aOwned) {
    accumulate(a.storage, b.data, a.numel());
    return a;
  }
  if (bOwned) {
    accumulate(b.storage, a.data, b.numel());
    return b;
  }
  const out = Tensor.empty(a.shape, a.dtype);
  addInto(a.data, b.data, out.storage, out.numel());
  return out;
}

/**
 * The gradients among `grads` that the backward just made and nobody else holds, which a leaf may
 * then take as its .grad without a copy (PyTorch's AccumulateGrad steals a gradient whose use count
 * is 1 the same way). A gradient qualifies when its storage is a whole buffer that it exactly covers,
 * and that buffer is not the upstream gradient's, not any saved or input tensor's, and not another
 * returned gradient's (add's backward hands the same gy to both inputs; reshape's returns a view of
 * gy). Buffers, not typed arrays, are compared: `.data` of a contiguous view at an offset is a
 * subarray, a new typed array over the same memory (an eval batch norm hands its residual such a
 * view of the gradient it was given, which cat's backward slices).
 */
function ownedGrads(g: Tensor, ctx: BackwardContext<Record<string, Tensor | undefined>, unknown, unknown>,
  edges: Map<string, Tensor>, grads: Record<string, Tensor | undefined>): Set<Tensor> {
  const owned = new Set<Tensor>();
  const seen = new Map<ArrayBufferLike, number>();
  for (const k in grads) {
    const gi = grads[k];
    if (gi !== undefined) seen.set(gi.storage.buffer, (seen.get(gi.storage.buffer) ?? 0) + 1);
  }
  const known = new Set<ArrayBufferLike>([g.storage.buffer]);
  for (const t of edges.values()) known.add(t.storage.buffer);
  for (const k in ctx.inputs) {
    const t = ctx.inputs[k];
    if (t !== undefined) known.add(t.storage.buffer);
  }
  if (ctx.out !== undefined) known.add(ctx.out.storage.buffer);
  const extra = ctx.extra;
  if (ArrayBuffer.isView(extra)) known.add(extra.buffer);
  else if (extra !== null && typeof extra === 'object') {
    for (const v of Object.values(extra as Record<string, unknown>)) {
      if (v instanceof Tensor) known.add(v.storage.buffer);
      else if (ArrayBuffer.isView(v)) known.add(v.buffer);
    }
  }
  for (const k in grads) {
    const gi = grads[k];
    if (gi === undefined) continue;
    const s = gi.storage;
    if (seen.get(s.buffer) !== 1 || known.has(s.buffer) || s.byteOffset !== 0 || s.byteLength !== s.buffer.byteLength) continue;
    if (gi.offset === 0 && s.length === gi.numel() && gi.isContiguous() && !gi.requiresGrad) owned.add(gi);
  }
  return owned;
}

/**
 * Adds g into t.grad, creating a contiguous gradient the first time: g itself when the caller
 * owns it exclusively (see ownedGrads), else a copy.
 */
function accumulateLeaf(t: Tensor, g: Tensor, owned = false): void {
  if (t.grad === null && owned) {
    t.grad = g; // not read here, so it may still be in the making (backward settles all at its end)
    return;
  }
  settle(g.storage);
  if (t.grad !== null) settle(t.grad.storage); // a gradient taken earlier in this backward
  if (t.grad === null) {
    const copy = Tensor.empty(t.shape, t.dtype);
    copy.storage.set(g.data);
    t.grad = copy;
  } else {
    if (!shapesEqual(t.grad.shape, t.shape)) {
      fail('backward', `existing .grad has shape ${fmtShape(t.grad.shape)} but the tensor has shape ${fmtShape(t.shape)}`);
    }
    const dst = t.grad.data;
    if (!t.grad.isContiguous()) {
      const copy = Tensor.empty(t.shape, t.dtype);
      copy.storage.set(dst);
      t.grad = copy;
    }
    accumulate(t.grad.data, g.data, t.numel());
  }
}
