/**
 * Tensor: a typed-array storage seen through shape, strides and offset. Views (view, and reshape
 * whenever the strides allow one; permute, transpose, expand, slice) share storage with their base.
 * The broadcasting elementwise ops, where, cat/slice/pad copies and matmul (a transposed operand)
 * read strided views directly; the other kernels read contiguous data, so they first copy a
 * non-contiguous view.
 *
 * The tape fields (gradFn, grad, requiresGrad) live here; the recording and the backward walk are
 * in tape.ts, the op table in derivatives.ts, and the methods below delegate to functional.ts.
 */
// `import = require`, not a default import: ndarray is a CommonJS `export =` module, and a default
// import reads a `default` property, undefined in a consumer compiled without esModuleInterop.
import ndarray = require('ndarray');
import { allocate, AllocationError, allocateShared, bytesPerElement, dtypeOf, isDType, isShared, type DType, type FloatArray } from '../lib/core/dtype';
import { settle, sharedCopy } from '../lib/kernels/parallel';
import { fail, fmtShape, fmtValue } from '../lib/core/errors';
import { contiguousStrides, isContiguous, numel as shapeNumel } from '../lib/core/shape';
import { copyStrided } from '../lib/kernels/elementwise';
import { formatTensor } from './format';
import type { Node } from './tape';
import * as F from './functional';
import * as I from './inplace';
import { backward as runBackward, type BackwardOptions } from './tape';

export type { DType, FloatArray };

/**
 * A gradient hook (registerHook): called with the gradient of the tensor once it is complete; a
 * returned Tensor (same shape and dtype) replaces it, nothing keeps it.
 */
export type GradHook = (grad: Tensor) => Tensor | null | undefined | void;

/** What registerHook returns: remove() unregisters the hook (again: nothing). */
export interface RemovableHandle {
  remove(): void;
}
export type Scalar = number;
export type TensorLike = Tensor | number;

/** A nested array of numbers, e.g. [[1, 2], [3, 4]]. */
export type NestedArray = number | NestedArray[];

/**
 * Version counters, one per storage, so a tensor and every view of it share one (PyTorch keeps
 * its counter per storage too). Every in-place change the library makes through the public API
 * bumps it (the in-place methods add_ … neg_, an optimizer step, Module.loadStateDict); the tape records the version of each tensor
 * it saves and backward refuses a saved tensor whose version moved. A storage never bumped has no
 * entry: version 0, and no cost for the intermediate tensors of a forward pass.
 */
const versions = new WeakMap<FloatArray, { v: number }>();

export class Tensor {
  private _storage: FloatArray;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  private _grad: Tensor | null = null;
  /** The recorded operation that produced this tensor; null for leaves. */
  gradFn: Node | null = null;
  private _requiresGrad = false;
  /** Set by retainGrad(): keep the gradient of this non-leaf after backward. */
  retainsGrad = false;
  /**
   * @internal The hooks of registerHook in registration order, each in its own entry so one
   * function registered twice runs twice and each handle removes its own; null when there are none.
   */
  _hooks: { readonly fn: GradHook }[] | null = null;

  constructor(storage: FloatArray, shape: readonly number[], strides?: readonly number[], offset = 0) {
    this._storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
  }

  /** The backing buffer; may be shared with other views. */
  get storage(): FloatArray {
    return this._storage;
  }

  /**
   * How many times this tensor's storage has been modified in place (PyTorch's _version); shared
   * with every view of the storage.
   */
  get _version(): number {
    const c = versions.get(this._storage);
    return c === undefined ? 0 : c.v;
  }

  /** Records an in-place modification of this tensor's storage (its views see it too). */
  _bumpVersion(): void {
    const c = versions.get(this._storage);
    if (c === undefined) versions.set(this._storage, { v: 1 });
    else c.v++;
  }

  /** The accumulated gradient of a leaf (or of a non-leaf after retainGrad()), or null. */
  get grad(): Tensor | null {
    // A backward may take a gradient a worker is still writing as .grad (a deferred conv weight
    // gradient, lib/kernels/parallel.ts) and settles it before it returns; a hook running meanwhile
    // may read .grad, so reading waits for it (nothing to do outside a backward).
    const g = this._grad;
    if (g !== null) settle(g.storage);
    return g;
  }

  /**
   * Assigning a gradient checks it as PyTorch does: a Tensor (or null) of this tensor's shape and
   * dtype, and not the tensor itself, since the optimizers and the next backward's accumulation
   * write into it as this one's.
   */
  set grad(g: Tensor | null) {
    if (g !== null) {
      if (!(g instanceof Tensor)) fail('grad', `assigned grad must be a Tensor or null, got ${fmtValue(g)}`);
      if (g === this) fail('grad', `can't assign a tensor as its own grad (shape ${fmtShape(this.shape)})`);
      if (g.dtype !== this.dtype) fail('grad', `assigned grad has dtype ${g.dtype} but the tensor is ${this.dtype} (shape ${fmtShape(this.shape)})`);
      const s = this.shape, gs = g.shape;
      if (gs.length !== s.length || gs.some((d, i) => d !== s[i])) {
        fail('grad', `assigned grad has shape ${fmtShape(gs)} but the tensor has shape ${fmtShape(s)}`);
      }
    }
    this._grad = g;
  }

  get dtype(): DType {
    return dtypeOf(this._storage);
  }

  /**
   * Replaces this tensor's storage with a converted copy (Module.to(dtype) uses it so parameters
   * keep their identity). Only for tensors that own their whole contiguous storage. .grad is
   * converted too (in place when it owns its storage, else as a copy), as torch's Module._apply does.
   */
  _convertStorage(dtype: DType): void {
    if (!isDType(dtype)) fail('to', `unknown dtype ${String(dtype)} (expected float32 or float64)`);
    if (dtype === this.dtype) return;
    const n = this.numel();
    if (!this._ownsWholeStorage()) {
      fail('to', `can only convert a tensor that owns its contiguous storage in place (shape ${fmtShape(this.shape)})`);
    }
    const next = allocate(dtype, n);
    next.set(this._storage);
    // A change of values for whoever saved this tensor; views of the old storage keep theirs.
    versions.set(next, { v: this._version + 1 });
    this._storage = next;
    const g = this._grad;
    if (g !== null && g.dtype !== dtype) {
      if (g._ownsWholeStorage()) {
        g._convertStorage(dtype);
      } else {
        const copy = allocate(dtype, g.numel());
        copy.set(g.data);
        this._grad = new Tensor(copy, g.shape);
      }
    }
  }

  /**
   * Moves this tensor's storage into shared memory (a SharedArrayBuffer) that the worker threads
   * can read, keeping the values and the tensor's identity (Module.shareMemory uses it; PyTorch's
   * share_memory_()). Only for tensors that own their whole contiguous storage; .grad moves too.
   * Views made of the tensor before the move keep the old storage. Nothing to do when the storage
   * is already shared or the platform has no shared memory.
   */
  _shareStorage(): void {
    if (typeof SharedArrayBuffer === 'undefined') return;
    if (!isShared(this._storage)) {
      if (!this._ownsWholeStorage()) {
        fail('shareMemory', `can only move a tensor that owns its contiguous storage (shape ${fmtShape(this.shape)})`);
      }
      const moved = sharedCopy(this._storage);
      // Same values: the new storage keeps counting where the old one was.
      const c = versions.get(this._storage);
      if (c !== undefined) versions.set(moved, c);
      this._storage = moved;
    }
    const g = this.grad;
    if (g !== null && !isShared(g._storage)) {
      // A gradient may be a view of a larger buffer: it moves as a contiguous copy.
      const copy = new Tensor(allocateShared(g.dtype, g.numel()), g.shape);
      copyStrided(g.shape, g, copy);
      this.grad = copy;
    }
  }

  /** @internal Contiguous and covering its whole storage from element 0, so that storage can be replaced in place (Module.to checks it first). */
  _ownsWholeStorage(): boolean {
    return this.isContiguous() && this.offset === 0 && this._storage.length === this.numel();
  }

  /** A fresh zero-filled contiguous tensor. */
  static empty(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    if (!isDType(dtype)) fail('empty', `unknown dtype ${String(dtype)} (expected float32 or float64)`);
    return new Tensor(allocateFor('empty', dtype, shape), shape);
  }

  get requiresGrad(): boolean {
    return this._requiresGrad;
  }

  set requiresGrad(v: boolean) {
    if (typeof v !== 'boolean') fail('requiresGrad', `must be a boolean, got ${fmtValue(v)}`);
    if (!v && this.gradFn) {
      fail('requiresGrad', 'cannot turn off requiresGrad of a non-leaf tensor; use detach()');
    }
    this._requiresGrad = v;
  }

  /** Marks this tensor as requiring gradients and returns it (PyTorch's requires_grad_()). */
  requiresGrad_(v = true): this {
    this.requiresGrad = v;
    return this;
  }

  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  get ndim(): number {
    return this.shape.length;
  }

  dim(): number {
    return this.shape.length;
  }

  numel(): number {
    return shapeNumel(this.shape);
  }

  /** size() is the shape; size(d) one dimension (negative d counts from the end). */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number | number[] {
    if (dim === undefined) return [...this.shape];
    const d = dim < 0 ? dim + this.shape.length : dim;
    if (!Number.isInteger(d) || d < 0 || d >= this.shape.length) {
      fail('size', `dim ${dim} out of range for a tensor of shape ${fmtShape(this.shape)}`);
    }
    return this.shape[d];
  }

  isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /**
   * The elements as a contiguous typed array in row-major order. For a contiguous tensor this is
   * the live storage (writes show through); otherwise a copy.
   */
  get data(): FloatArray {
    const n = this.numel();
    if (this.isContiguous()) {
      if (this.offset === 0 && this.storage.length === n) return this.storage;
      return this.storage.subarray(this.offset, this.offset + n);
    }
    const out = allocate(this.dtype, n);
    copyStrided(this.shape, this, { storage: out, offset: 0, strides: contiguousStrides(this.shape) });
    return out;
  }

  /** A contiguous copy of the elements, safe to modify (TensorFlow.js's name). */
  dataSync(): FloatArray {
    const d = this.data;
    return d === this.storage || d.buffer === this.storage.buffer ? d.slice() : d;
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.numel() !== 1) fail('item', `only one-element tensors can be converted to a number, got shape ${fmtShape(this.shape)}`);
    return this.storage[this.offset];
  }

  /** The elements as nested arrays (a number for a 0-d tensor). */
  toArray(): NestedArray {
    const flat = this.data;
    if (this.shape.length === 0) return flat[0];
    let pos = 0;
    const build = (d: number): NestedArray[] => {
      const out: NestedArray[] = [];
      for (let i = 0; i < this.shape[d]; i++) {
        if (d === this.shape.length - 1) out.push(flat[pos++]);
        else out.push(build(d + 1));
      }
      return out;
    };
    return build(0);
  }

  /** Zero-copy scijs ndarray over the same storage, shape, strides and offset. */
  toNdarray(): ndarray.NdArray<FloatArray> {
    return ndarray(this.storage, [...this.shape], [...this.strides], this.offset);
  }

  /** Zero-copy tensor over an ndarray of float32/float64 data (its strides and offset are kept). */
  static fromNdarray(nd: ndarray.NdArray): Tensor {
    const data: unknown = nd.data;
    if (!(data instanceof Float32Array) && !(data instanceof Float64Array)) {
      fail('fromNdarray', `expected ndarray data to be a Float32Array or Float64Array, got ${Object.prototype.toString.call(data)}`);
    }
    const shape = nd.shape.slice();
    const strides = nd.stride.slice();
    // Check the view stays inside its buffer so no later kernel reads out of bounds.
    let lo = nd.offset, hi = nd.offset;
    for (let i = 0; i < shape.length; i++) {
      if (shape[i] === 0) { lo = 0; hi = -1; break; }
      const span = (shape[i] - 1) * strides[i];
      if (span < 0) lo += span; else hi += span;
    }
    if (hi >= lo && (lo < 0 || hi >= data.length)) {
      fail('fromNdarray', `view of shape ${fmtShape(shape)} strides ${fmtShape(strides)} offset ${nd.offset} reaches outside its ${data.length}-element buffer`);
    }
    return new Tensor(data, shape, strides, nd.offset);
  }

  toString(): string {
    return formatTensor(this);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  // ---- autograd ----

  /** Runs reverse-mode differentiation from this tensor. */
  backward(grad?: Tensor | number, options?: BackwardOptions): void {
    runBackward(this, grad, options);
  }

  /** A tensor sharing storage with this one but cut off from the graph. */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, this.strides, this.offset);
  }

  /** Keep .grad for this non-leaf tensor after backward (PyTorch's retain_grad()). */
  retainGrad(): this {
    if (!this.requiresGrad) fail('retainGrad', `can't retain the gradient of a tensor that does not require grad (shape ${fmtShape(this.shape)})`);
    if (!this.isLeaf) this.retainsGrad = true;
    return this;
  }

  /**
   * Calls fn with this tensor's gradient each time backward() or grad() computes it (PyTorch's
   * register_hook): once per pass, with the sum over every path for a tensor used several times.
   * fn may keep the tensor it gets. A Tensor it returns (same shape and dtype) replaces the gradient
   * from then on: what a leaf accumulates into .grad, what flows further back from a non-leaf, what
   * a retainGrad() .grad holds, what grad() returns. Several hooks run in registration order, each
   * given the previous one's result.
   */
  registerHook(fn: GradHook): RemovableHandle {
    if (typeof fn !== 'function') fail('registerHook', `expected a function, got ${fmtValue(fn)}`);
    if (!this.requiresGrad) {
      fail('registerHook', `cannot register a hook on a tensor that doesn't require gradient (shape ${fmtShape(this.shape)})`);
    }
    const entry = { fn };
    (this._hooks ??= []).push(entry);
    return {
      remove: () => {
        const hooks = this._hooks;
        const i = hooks === null ? -1 : hooks.indexOf(entry);
        if (i < 0) return;
        hooks!.splice(i, 1);
        if (hooks!.length === 0) this._hooks = null;
      },
    };
  }

  /** Sets .grad to null (PyTorch's default zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    this.grad = null;
  }

  // ---- in-place ops (see inplace.ts): write through this tensor's strides, bump _version, return this ----
  /** this += alpha·other (torch's add_), other broadcast to this shape. */
  add_(other: TensorLike, options?: I.AddInplaceOptions | null): this { I.add_(this, other, options); return this; }
  /** this −= alpha·other (torch's sub_). */
  sub_(other: TensorLike, options?: I.AddInplaceOptions | null): this { I.sub_(this, other, options); return this; }
  mul_(other: TensorLike): this { I.mul_(this, other); return this; }
  div_(other: TensorLike): this { I.div_(this, other); return this; }
  zero_(): this { I.zero_(this); return this; }
  fill_(value: number): this { I.fill_(this, value); return this; }
  copy_(src: Tensor): this { I.copy_(this, src); return this; }
  clamp_(min?: number | null, max?: number | null): this { I.clamp_(this, min, max); return this; }
  neg_(): this { I.neg_(this); return this; }

  // ---- ops (see functional.ts) ----
  add(other: TensorLike): Tensor { return F.add(this, other); }
  sub(other: TensorLike): Tensor { return F.sub(this, other); }
  mul(other: TensorLike): Tensor { return F.mul(this, other); }
  div(other: TensorLike): Tensor { return F.div(this, other); }
  pow(exponent: TensorLike): Tensor { return F.pow(this, exponent); }
  maximum(other: TensorLike): Tensor { return F.maximum(this, other); }
  minimum(other: TensorLike): Tensor { return F.minimum(this, other); }
  neg(): Tensor { return F.neg(this); }
  exp(): Tensor { return F.exp(this); }
  log(): Tensor { return F.log(this); }
  sqrt(): Tensor { return F.sqrt(this); }
  abs(): Tensor { return F.abs(this); }
  sign(): Tensor { return F.sign(this); }
  relu(): Tensor { return F.relu(this); }
  sigmoid(): Tensor { return F.sigmoid(this); }
  tanh(): Tensor { return F.tanh(this); }
  expm1(): Tensor { return F.expm1(this); }
  log1p(): Tensor { return F.log1p(this); }
  erf(): Tensor { return F.erf(this); }
  square(): Tensor { return F.square(this); }
  clamp(min?: number | null, max?: number | null): Tensor { return F.clamp(this, min, max); }
  softmax(dim: number): Tensor { return F.softmax(this, dim); }
  logSoftmax(dim: number): Tensor { return F.logSoftmax(this, dim); }
  sum(dim?: number | number[] | null, keepdim = false): Tensor { return F.sum(this, dim, keepdim); }
  mean(dim?: number | number[] | null, keepdim = false): Tensor { return F.mean(this, dim, keepdim); }
  max(dim?: number | number[] | null, keepdim = false): Tensor { return F.max(this, dim, keepdim); }
  min(dim?: number | number[] | null, keepdim = false): Tensor { return F.min(this, dim, keepdim); }
  argmax(dim?: number | null, keepdim = false): Tensor { return F.argmax(this, dim, keepdim); }
  argmin(dim?: number | null, keepdim = false): Tensor { return F.argmin(this, dim, keepdim); }
  /** torch.sort along dim (see F.sort: NaN sorts as the largest; always stable). */
  sort(dim = -1, descending = false, stable?: boolean | null): F.SortResult { return F.sort(this, dim, descending, stable); }
  /** torch.argsort: the indices of sort (see F.argsort). */
  argsort(dim = -1, descending = false, stable?: boolean | null): Tensor { return F.argsort(this, dim, descending, stable); }
  /** torch.topk: the k largest (or smallest) entries along dim and their indices (see F.topk). */
  topk(k: number, dim = -1, largest = true, sorted = true): F.SortResult { return F.topk(this, k, dim, largest, sorted); }
  /** torch.kthvalue: the k-th smallest entry along dim (k from 1) and its index (see F.kthvalue). */
  kthvalue(k: number, dim = -1, keepdim = false): F.SortResult { return F.kthvalue(this, k, dim, keepdim); }
  /** torch.median: of all elements (a 0-d tensor), or values and indices along dim (see F.median). */
  median(): Tensor;
  median(dim: number, keepdim?: boolean): F.SortResult;
  median(dim?: number, keepdim = false): Tensor | F.SortResult {
    // dim undefined goes to median(x), which refuses keepdim = true without a dim.
    return F.median(this, dim as number, keepdim);
  }
  var(dim?: number | number[] | null, options?: F.VarianceOptions): Tensor { return F.variance(this, dim, options); }
  std(dim?: number | number[] | null, options?: F.VarianceOptions): Tensor { return F.std(this, dim, options); }
  reshape(...shape: number[] | [readonly number[]]): Tensor { return F.reshape(this, flatArgs(shape)); }
  view(...shape: number[] | [readonly number[]]): Tensor { return F.view(this, flatArgs(shape)); }
  permute(...dims: number[] | [readonly number[]]): Tensor { return F.permute(this, flatArgs(dims)); }
  transpose(dim0: number, dim1: number): Tensor { return F.transpose(this, dim0, dim1); }
  /** The transpose of a 2-d tensor (PyTorch's .T / .t()). */
  t(): Tensor {
    if (this.ndim > 2) fail('t', `expects a tensor with <= 2 dims, got shape ${fmtShape(this.shape)}`);
    return this.ndim < 2 ? this : F.transpose(this, 0, 1);
  }
  get T(): Tensor { return this.t(); }
  flatten(startDim = 0, endDim = -1): Tensor { return F.flatten(this, startDim, endDim); }
  squeeze(dim?: number): Tensor { return F.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return F.unsqueeze(this, dim); }
  expand(...shape: number[] | [readonly number[]]): Tensor { return F.expand(this, flatArgs(shape)); }
  slice(dim: number, start?: number, end?: number, step = 1): Tensor { return F.slice(this, dim, start, end, step); }
  narrow(dim: number, start: number, length: number): Tensor { return F.narrow(this, dim, start, length); }
  select(dim: number, index: number): Tensor { return F.select(this, dim, index); }
  contiguous(): Tensor { return F.contiguous(this); }
  /** torch.Tensor.split: a size or a list of sizes along dim (see F.split). */
  split(splitSizeOrSections: number | readonly number[], dim = 0): Tensor[] { return F.split(this, splitSizeOrSections, dim); }
  /** torch.Tensor.chunk (see F.chunk: pieces of ceil(size / chunks), so possibly fewer than chunks). */
  chunk(chunks: number, dim = 0): Tensor[] { return F.chunk(this, chunks, dim); }
  unbind(dim = 0): Tensor[] { return F.unbind(this, dim); }
  /** torch.Tensor.repeat: x.repeat(2, 1) or x.repeat([2, 1]); more sizes than dims add leading dims. */
  repeat(...sizes: number[] | [readonly number[]]): Tensor { return F.repeat(this, flatArgs(sizes)); }
  /** torch.Tensor.tile: repeat with fewer sizes than dims allowed (they tile the last dims). */
  tile(...dims: number[] | [readonly number[]]): Tensor { return F.tile(this, flatArgs(dims)); }
  /** torch.Tensor.flip: x.flip(0, 1) or x.flip([0, 1]). */
  flip(...dims: number[] | [readonly number[]]): Tensor { return F.flip(this, flatArgs(dims)); }
  /** torch.Tensor.roll (see F.roll: without dims, the flattened tensor rolls). */
  roll(shifts: number | readonly number[], dims?: number | readonly number[] | null): Tensor { return F.roll(this, shifts, dims); }
  /** torch.Tensor.masked_fill, the mask holding 0/1 (see F.maskedFill). */
  maskedFill(mask: Tensor, value: number | Tensor): Tensor { return F.maskedFill(this, mask, value); }
  cumsum(dim: number): Tensor { return F.cumsum(this, dim); }
  prod(dim?: number | null, keepdim = false): Tensor { return F.prod(this, dim, keepdim); }
  logsumexp(dim: number | readonly number[], keepdim = false): Tensor { return F.logsumexp(this, dim, keepdim); }
  /** torch.Tensor.norm for any numeric p (±Infinity, 0, negative included) or 'fro' (see F.norm). */
  norm(p: F.NormOrder = 2, dim?: number | readonly number[] | null, keepdim = false): Tensor { return F.norm(this, p, dim, keepdim); }
  /** torch.gather along dim (see F.gather); index a Tensor or an array of whole numbers. */
  gather(dim: number, index: Tensor | ArrayLike<number>): Tensor { return F.gather(this, dim, index); }
  /** torch.index_select (see F.indexSelect). */
  indexSelect(dim: number, index: Tensor | ArrayLike<number>): Tensor { return F.indexSelect(this, dim, index); }
  /** Out-of-place torch.scatter_add (see F.scatterAdd). */
  scatterAdd(dim: number, index: Tensor | ArrayLike<number>, src: Tensor): Tensor { return F.scatterAdd(this, dim, index, src); }
  /** Out-of-place torch.scatter, src a Tensor or a number (see F.scatter: the last of repeated targets wins). */
  scatter(dim: number, index: Tensor | ArrayLike<number>, src: Tensor | number): Tensor { return F.scatter(this, dim, index, src); }
  clone(): Tensor { return F.clone(this); }
  matmul(other: Tensor): Tensor { return F.matmul(this, other); }
  eq(other: TensorLike): Tensor { return F.eq(this, other); }
  ne(other: TensorLike): Tensor { return F.ne(this, other); }
  lt(other: TensorLike): Tensor { return F.lt(this, other); }
  le(other: TensorLike): Tensor { return F.le(this, other); }
  gt(other: TensorLike): Tensor { return F.gt(this, other); }
  ge(other: TensorLike): Tensor { return F.ge(this, other); }
  /** A copy converted to another dtype (differentiable). */
  to(dtype: DType): Tensor { return F.toDtype(this, dtype); }
  float(): Tensor { return F.toDtype(this, 'float32'); }
  double(): Tensor { return F.toDtype(this, 'float64'); }
}

/**
 * Zero-filled storage for a new tensor of `shape`. A size the platform cannot allocate is an Error
 * naming `op`, the shape and the bytes asked for, not a bare RangeError.
 */
export function allocateFor(op: string, dtype: DType, shape: readonly number[]): FloatArray {
  const n = shapeNumel(shape);
  try {
    return allocate(dtype, n);
  } catch (e) {
    if (!(e instanceof AllocationError)) throw e;
    const bytes = n * bytesPerElement(dtype);
    return fail(op, `cannot allocate a ${dtype} tensor of shape ${fmtShape(shape)}: ${n} elements, ${bytes} bytes (${(bytes / 2 ** 30).toFixed(1)} GiB): ${e.reason}`);
  }
}

function flatArgs(args: number[] | [readonly number[]]): number[] {
  if (args.length === 1 && Array.isArray(args[0])) return [...(args[0] as readonly number[])];
  return args as number[];
}
