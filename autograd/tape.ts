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
 *
 * grad() walks the same way but captures the inputs' gradients instead of writing any .grad, and
 * skips the nodes with no input behind them. Hooks (Tensor.registerHook) see a tensor's gradient
 * once it is complete, so a leaf with hooks has its paths summed first instead of each added into
 * .grad as it arrives; a gradient a hook has seen is never one the walk adds into or that .grad takes.
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
  /** The call that freed the saved state ('backward' or 'grad'), named when a later one needs it. */
  freedBy = '';

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
  checkSavedVersions(op: string, ctx: BackwardContext<Record<string, Tensor | undefined>, unknown, unknown>): void {
    const versions = this.savedVersions;
    if (versions.length === 0) return;
    let i = 0;
    for (const k in ctx.inputs) {
      const t = ctx.inputs[k];
      if (t === undefined) continue;
      this.checkVersion(op, t, `input '${k}'`, versions[i++]);
    }
    if (ctx.out !== undefined && i < versions.length) this.checkVersion(op, ctx.out, 'output', versions[i]);
  }

  private checkVersion(op: string, t: Tensor, what: string, expected: number): void {
    const v = t._version;
    if (v === expected) return;
    fail(op, `a tensor of shape ${fmtShape(t.shape)} (the ${what}) saved by ${this.op} for the gradient was modified in place ` +
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
  const seed = makeSeed('backward', root, grad, false, 'gradient', 'the output', 'grad');
  runGuarded(newWalk('backward', options.retainGraph ?? false, null), [root], [seed]);
}

/**
 * The seed gradient of one output: ones for an omitted gradient of a one-element output, a number
 * filled in, or the caller's tensor (not owned: the tape must never write into it). `what` and
 * `output` name the gradient and the output in messages; `implicit` the argument that was omitted.
 * null means omitted for grad()'s gradOutputs entries (torch's None), and is an error for backward().
 */
function makeSeed(op: string, root: Tensor, grad: unknown, nullIsOmitted: boolean, what: string, output: string, implicit: string): Seed {
  if (grad === undefined || (grad === null && nullIsOmitted)) {
    if (root.numel() !== 1) {
      fail(op, `${implicit} can be implicitly created only for scalar outputs; got shape ${fmtShape(root.shape)}` +
        `${output === 'the output' ? '' : ` for ${output}`}, pass a gradient of that shape`);
    }
    const seed = Tensor.empty(root.shape, root.dtype);
    seed.storage.fill(1);
    return { g: seed, owned: true };
  }
  if (typeof grad === 'number') {
    if (root.numel() !== 1) fail(op, `a number gradient needs a one-element output; got shape ${fmtShape(root.shape)}${output === 'the output' ? '' : ` for ${output}`}`);
    const seed = Tensor.empty(root.shape, root.dtype);
    seed.storage.fill(grad);
    return { g: seed, owned: true };
  }
  if (!(grad instanceof Tensor)) {
    fail(op, `${what} must be a Tensor (or a number, or omitted, for a one-element output), got ${fmtValue(grad)}`);
  }
  if (!shapesEqual(grad.shape, root.shape)) {
    fail(op, `${what} has shape ${fmtShape(grad.shape)} but ${output} has shape ${fmtShape(root.shape)}`);
  }
  if (grad.dtype !== root.dtype) fail(op, `${what} dtype ${grad.dtype} does not match ${output === 'the output' ? "the output's" : `that of ${output},`} ${root.dtype}`);
  return { g: grad, owned: false };
}

export interface GradOptions {
  /**
   * The vector of the vector-Jacobian product, one per output (a Tensor of its shape and dtype, a
   * number for a one-element output, or null / omitted for ones when it has one element).
   */
  gradOutputs?: Tensor | number | null | readonly (Tensor | number | null)[];
  /** Keep the graph's saved tensors so backward or grad can run through it again. */
  retainGraph?: boolean;
  /** Give null for an input the outputs do not depend on, instead of an error. */
  allowUnused?: boolean;
  /** Not supported: tsgrad has no double backward. Only false (or omitted) is accepted. */
  createGraph?: boolean;
}

const GRAD_KEYS: readonly string[] = ['gradOutputs', 'retainGraph', 'allowUnused', 'createGraph'];

/**
 * torch.autograd.grad without create_graph: the gradients of Σ outputs[i]·gradOutputs[i] with
 * respect to each of `inputs` (leaves or non-leaves that require grad), as new tensors. No .grad is
 * written, neither the leaves' nor that of retainGrad() tensors; only the part of the graph that
 * leads to an input runs (so a non-leaf input's own graph may already have been freed, unless
 * another input lies behind it), and the hooks of the tensors whose gradient is computed fire (those of the
 * inputs too: what they return is what grad returns).
 */
export function grad(outputs: Tensor | readonly Tensor[], inputs: Tensor | readonly Tensor[],
  options?: GradOptions & { allowUnused?: false }): Tensor[];
export function grad(outputs: Tensor | readonly Tensor[], inputs: Tensor | readonly Tensor[], options?: GradOptions): (Tensor | null)[];
export function grad(outputs: Tensor | readonly Tensor[], inputs: Tensor | readonly Tensor[], options: GradOptions = {}): (Tensor | null)[] {
  const op = 'grad';
  checkKnownKeys(op, options, GRAD_KEYS);
  for (const key of ['retainGraph', 'allowUnused', 'createGraph'] as const) {
    const v = options[key];
    if (v !== undefined && typeof v !== 'boolean') fail(op, `${key} must be a boolean, got ${fmtValue(v)}`);
  }
  if (options.createGraph) {
    fail(op, 'createGraph is not supported: tsgrad has no double backward (gradients are computed without recording them on the tape)');
  }
  const outs = tensorList(op, 'outputs', outputs);
  const ins = tensorList(op, 'inputs', inputs);
  outs.forEach((t, i) => {
    if (!t.requiresGrad) fail(op, `outputs[${i}] of shape ${fmtShape(t.shape)} does not require grad and has no grad_fn`);
  });
  ins.forEach((t, i) => {
    if (!t.requiresGrad) fail(op, `inputs[${i}] of shape ${fmtShape(t.shape)} does not require grad, so it has no gradient`);
  });
  const go = options.gradOutputs;
  let gos: readonly unknown[];
  if (Array.isArray(go)) {
    if (go.length !== outs.length) fail(op, `got ${go.length} gradOutputs for ${outs.length} outputs`);
    gos = go;
  } else {
    if (go !== undefined && go !== null && outs.length !== 1) {
      fail(op, `gradOutputs must be an array of one entry per output for ${outs.length} outputs, got ${fmtValue(go)}`);
    }
    gos = outs.map(() => go);
  }
  const seeds = outs.map((t, i) => makeSeed(op, t, gos[i], true, `gradOutputs[${i}]`, `outputs[${i}]`, 'grad'));
  const captures = new Map<Tensor, Seed | null>();
  for (const t of ins) captures.set(t, null);
  const w = newWalk(op, options.retainGraph ?? false, captures);
  runGuarded(w, outs, seeds);
  const given = new Set<Tensor>();
  return ins.map((t, i) => {
    const c = captures.get(t) ?? null;
    if (c === null) {
      if (w.cut !== null) failFreed(op, w.cut); // the input may lie behind the freed node
      if (options.allowUnused) return null;
      fail(op, `inputs[${i}] of shape ${fmtShape(t.shape)} was not used in the graph of the outputs; pass { allowUnused: true } to get null for it`);
    }
    // The tape's own sum, held by nobody else, goes out as it is (once); anything else as a copy.
    if (c.owned && !given.has(c.g)) {
      given.add(c.g);
      return c.g;
    }
    const copy = Tensor.empty(c.g.shape, c.g.dtype);
    copy.storage.set(c.g.data);
    return copy;
  });
}

function tensorList(op: string, name: string, v: Tensor | readonly Tensor[]): readonly Tensor[] {
  if (v instanceof Tensor) return [v];
  if (!Array.isArray(v)) fail(op, `${name} must be a Tensor or an array of Tensors, got ${fmtValue(v)}`);
  if (v.length === 0) fail(op, `${name} must not be empty`);
  v.forEach((t: unknown, i) => {
    if (!(t instanceof Tensor)) fail(op, `${name}[${i}] must be a Tensor, got ${fmtValue(t)}`);
  });
  return v;
}

/** A gradient and whether this walk made it and nobody else holds it, so the tape may write into it or hand it on without a copy. */
interface Seed {
  g: Tensor;
  owned: boolean;
}

/** The state of one backward or grad: what to do besides computing gradients, and the gradients in flight. */
interface Walk {
  /** The public function, for messages: 'backward' or 'grad'. */
  readonly op: string;
  readonly retain: boolean;
  /**
   * grad(): the tensors whose gradients are returned (null until one arrives); nothing is
   * accumulated into any .grad. null for backward().
   */
  readonly captures: Map<Tensor, Seed | null> | null;
  /** grad(): the non-leaf tensors whose node must run because a captured tensor lies behind it; null: all. */
  execute: Set<Tensor> | null;
  /**
   * Leaves whose gradient is summed over all its paths first and then hooked and accumulated (or
   * captured), with the number of graph edges into each not walked yet. The others (no hook, in
   * backward) accumulate edge by edge into .grad.
   */
  readonly collected: Map<Tensor, number>;
  /** Gradients of the tensors not visited yet (non-leaves, and collected leaves). */
  readonly grads: Map<Tensor, Tensor>;
  /**
   * Gradients in `grads` that this walk made and nobody else holds: a second path into the same
   * tensor adds into one of them in place instead of into a new tensor (PyTorch's InputBuffer does
   * the same), which saves an allocation and its zero-fill per residual join. A gradient handed to
   * a hook is never in it: the hook may keep it.
   */
  readonly ownedInMap: Set<Tensor>;
  /** grad(): the first freed node of an input that the search stopped at, or null. */
  cut: Node | null;
}

function newWalk(op: string, retain: boolean, captures: Map<Tensor, Seed | null> | null): Walk {
  return { op, retain, captures, execute: null, collected: new Map(), grads: new Map(), ownedInMap: new Set(), cut: null };
}

/** Runs the walk with recording off, and lets deferred kernels finish before returning or throwing. */
function runGuarded(w: Walk, roots: readonly Tensor[], seeds: readonly Seed[]): void {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    runGraph(w, roots, seeds);
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

function runGraph(w: Walk, roots: readonly Tensor[], seeds: readonly Seed[]): void {
  const { order, uses } = topologicalOrder(w, roots);
  const captures = w.captures;
  if (captures !== null) {
    w.execute = nodesToRun(order, captures);
    for (const t of captures.keys()) if (t.isLeaf) w.collected.set(t, uses.get(t) ?? 0);
  } else {
    for (const [t, n] of uses) if (t.isLeaf && t._hooks !== null) w.collected.set(t, n);
    for (const r of roots) if (r.isLeaf && r._hooks !== null) w.collected.set(r, uses.get(r) ?? 0);
  }
  // Every saved tensor checked before any gradient moves, so a stale graph leaves .grad as it was.
  for (let i = 0; i < order.length; i++) {
    const node = order[i].gradFn as Node;
    if (node.ctx !== null && (w.execute === null || w.execute.has(order[i]))) node.checkSavedVersions(w.op, node.ctx);
  }
  roots.forEach((r, i) => {
    const s = seeds[i];
    if (!r.isLeaf || w.collected.has(r)) deliver(w, r, s.g, s.owned);
    else if (captures === null) accumulateLeaf(r, s.g);
  });
  try {
    walk(w, order, uses);
  } finally {
    setOpsAhead(0);
  }
  // Leaves reached only as an output (no graph edge into them) are complete now.
  for (const t of w.collected.keys()) if (w.grads.has(t)) finishLeaf(w, t);
}

/**
 * For grad(): the non-leaves whose node must run, those with a captured tensor behind them. `order`
 * puts every tensor before its inputs, so walking it backwards sees the inputs' answers first.
 */
function nodesToRun(order: readonly Tensor[], captures: Map<Tensor, Seed | null>): Set<Tensor> {
  const run = new Set<Tensor>();
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const edges = (t.gradFn as Node).edges;
    if (edges === null) continue; // a captured input's freed node (topologicalOrder)
    for (const c of edges.values()) {
      if (captures.has(c) || run.has(c)) {
        run.add(t);
        break;
      }
    }
  }
  return run;
}

/** Adds gradient gi into the pending gradient of t (a non-leaf, or a collected leaf). */
function deliver(w: Walk, t: Tensor, gi: Tensor, giOwned: boolean): void {
  const prev = w.grads.get(t);
  if (prev === undefined) {
    w.grads.set(t, gi);
    if (giOwned) w.ownedInMap.add(gi);
    return;
  }
  const sum = addGrads(prev, gi, w.ownedInMap.has(prev), giOwned);
  w.ownedInMap.delete(prev);
  w.ownedInMap.add(sum);
  w.grads.set(t, sum);
}

/** Counts one walked edge into a collected leaf; after the last one its gradient is complete. */
function edgeDone(w: Walk, leaf: Tensor): void {
  const n = (w.collected.get(leaf) as number) - 1;
  w.collected.set(leaf, n);
  if (n === 0 && w.grads.has(leaf)) finishLeaf(w, leaf);
}

/** A collected leaf's complete gradient: through its hooks, then into .grad (backward) or captured (grad). */
function finishLeaf(w: Walk, t: Tensor): void {
  const g0 = w.grads.get(t) as Tensor;
  w.grads.delete(t);
  let owned = w.ownedInMap.delete(g0);
  settle(g0.storage);
  // Asked before the hooks run: a hook that removes itself (keep the first gradient, then unregister) has still seen g0.
  const hooked = t._hooks !== null;
  const g = runHooks(t, g0);
  if (w.captures !== null) {
    w.captures.set(t, { g, owned: owned && g === g0 });
    return;
  }
  // A gradient a hook has seen may be kept by it: .grad, which later backwards add into in place, gets a copy.
  if (hooked || g !== g0) owned = false;
  accumulateLeaf(t, g, owned);
}

/**
 * t's gradient through t's hooks (registerHook) in registration order, each given the previous
 * one's result; a hook returning nothing keeps it. The list is copied first, so a hook that removes
 * itself or another does not make the loop skip one.
 */
function runHooks(t: Tensor, g: Tensor): Tensor {
  const hooks = t._hooks;
  if (hooks === null) return g;
  let cur = g;
  for (const h of hooks.slice()) {
    const r: unknown = h.fn(cur);
    if (r === undefined || r === null) continue;
    if (!(r instanceof Tensor)) {
      fail('registerHook', `a hook must return a Tensor or nothing, got ${fmtValue(r)} (tensor of shape ${fmtShape(t.shape)})`);
    }
    if (!shapesEqual(r.shape, t.shape)) {
      fail('registerHook', `a hook returned a gradient of shape ${fmtShape(r.shape)} for a tensor of shape ${fmtShape(t.shape)}`);
    }
    if (r.dtype !== t.dtype) {
      fail('registerHook', `a hook returned a ${r.dtype} gradient for a ${t.dtype} tensor of shape ${fmtShape(t.shape)}`);
    }
    settle(r.storage);
    cur = r;
  }
  return cur;
}

function walk(w: Walk, order: readonly Tensor[], uses: Map<Tensor, number>): void {
  const { grads, ownedInMap, captures, execute, collected } = w;
  for (let i = 0; i < order.length; i++) {
    const t = order[i];
    let g = grads.get(t);
    const node = t.gradFn as Node;
    grads.delete(t);
    let gOwned = g !== undefined && ownedInMap.delete(g);
    const runs = execute === null || execute.has(t);
    if (g === undefined || (!runs && !captures!.has(t))) {
      // No path from the root carried a gradient here (or grad() needs none): the edges still count as walked.
      if (collected.size > 0 && node.edges !== null) for (const c of node.edges.values()) if (collected.has(c)) edgeDone(w, c);
      continue;
    }
    settle(g.storage);
    if (t._hooks !== null) {
      const h = runHooks(t, g);
      if (h !== g) gOwned = false;
      g = h;
    }
    if (captures === null) {
      if (t.retainsGrad) accumulateLeaf(t, g);
    } else if (captures.has(t)) {
      captures.set(t, { g, owned: gOwned });
    }
    if (!runs) continue; // captured, and no other captured tensor lies behind it
    if (node.freed || node.ctx === null || node.edges === null) failFreed(w.op, node);
    setOpsAhead(order.length - 1 - i);
    const upstream = g;
    const ctx = node.ctx, edges = node.edges;
    const inputGrads = node.backwardFn(upstream, captures === null ? ctx : neededOnly(w, ctx, edges)) as Record<string, Tensor | undefined>;
    let ownedSet: Set<Tensor> | null = null; // worked out only when a gradient may be kept without a copy
    const owned = (): Set<Tensor> => (ownedSet ??= ownedGrads(upstream, ctx, edges, inputGrads));
    for (const [name, input] of edges) {
      const gi = inputGrads[name];
      const isCollected = collected.has(input);
      if (gi === undefined) {
        if (isCollected) edgeDone(w, input);
        continue;
      }
      if (!shapesEqual(gi.shape, input.shape)) {
        fail(w.op, `gradient for input '${name}' of ${node.op} has shape ${fmtShape(gi.shape)} but the input has shape ${fmtShape(input.shape)}`);
      }
      if (gi.dtype !== input.dtype) {
        fail(w.op, `gradient for input '${name}' of ${node.op} has dtype ${gi.dtype} but the input has dtype ${input.dtype}`);
      }
      if (input.isLeaf) {
        if (isCollected) {
          deliver(w, input, gi, owned().has(gi));
          edgeDone(w, input);
        } else if (captures === null) {
          accumulateLeaf(input, gi, input.grad === null && owned().has(gi));
        }
        continue;
      }
      if (execute !== null && !execute.has(input) && !captures!.has(input)) continue; // grad() needs nothing from it
      const prevGrad = grads.get(input);
      // Ownership matters only where the gradient may be added into or handed on later.
      const mayKeep = prevGrad !== undefined || (uses.get(input) ?? 0) > 1 || (captures !== null && captures.has(input));
      deliver(w, input, gi, mayKeep && owned().has(gi));
    }
    if (!w.retain) {
      node.freed = true;
      node.freedBy = w.op;
      node.ctx = null;
      node.edges = null;
    }
  }
}

/**
 * grad(): ctx with `needs` cut down to the inputs whose gradient the call uses (a captured leaf, or
 * a non-leaf with a captured tensor behind it), as torch computes only what grad() returns: with
 * grad(loss, [x]) a conv's backward makes the input gradient and skips the weight's. ctx itself
 * when nothing is cut.
 */
function neededOnly(w: Walk, ctx: NonNullable<Node['ctx']>, edges: Map<string, Tensor>): NonNullable<Node['ctx']> {
  let needs: Record<string, boolean> | null = null;
  for (const [name, input] of edges) {
    const used = input.isLeaf ? w.collected.has(input) : w.execute === null || w.execute.has(input) || w.captures!.has(input);
    if (used) continue;
    needs ??= { ...ctx.needs } as Record<string, boolean>;
    needs[name] = false;
  }
  return needs === null ? ctx : { ...ctx, needs };
}

/** The error for a node whose saved state an earlier backward() or grad() without retainGraph freed. */
function failFreed(op: string, node: Node): never {
  fail(op, `trying to backward through the graph a second time (the saved tensors of ${node.name} were freed); ` +
    `pass { retainGraph: true } to the first ${node.freedBy || op}() if you need to`);
}

const NO_EDGES: ReadonlyMap<string, Tensor> = new Map();

/**
 * Non-leaf tensors reachable from the roots, each after every tensor that consumes it (so its
 * gradient is complete when visited), and how many graph edges lead into each tensor, leaves
 * included (more than one into a non-leaf: its gradient is a sum). Iterative DFS: deep nets must
 * not overflow the JS stack. One DFS forest over all roots, so the reversed post-order is a
 * topological order of their union.
 */
function topologicalOrder(w: Walk, roots: readonly Tensor[]): { order: Tensor[]; uses: Map<Tensor, number> } {
  const post: Tensor[] = [];
  const uses = new Map<Tensor, number>();
  const visited = new Set<Tensor>();
  for (const root of roots) {
    if (root.isLeaf || visited.has(root)) continue;
    const stack: Array<{ t: Tensor; it: Iterator<Tensor> | null }> = [{ t: root, it: null }];
    visited.add(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.it === null) {
        const node = top.t.gradFn as Node;
        if (node.edges === null) {
          // grad() need not run the node of an input (torch runs only what lies between the outputs
          // and the inputs), so a freed one ends the search there; grad() reports it if an input then
          // gets no gradient, since the freed edges may have led to it.
          if (w.captures === null || !w.captures.has(top.t)) failFreed(w.op, node);
          w.cut ??= node;
        }
        top.it = (node.edges ?? NO_EDGES).values();
      }
      const next = top.it.next();
      if (next.done) {
        post.push(top.t);
        stack.pop();
        continue;
      }
      const child = next.value;
      uses.set(child, (uses.get(child) ?? 0) + 1);
      if (!child.isLeaf && !visited.has(child)) {
        visited.add(child);
        stack.push({ t: child, it: null });
      }
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
