/**
 * In-place ops, PyTorch's trailing-underscore methods: add_ sub_ mul_ div_ zero_ fill_ copy_ clamp_
 * neg_. Each writes through self's shape, strides and offset, so an in-place op on a view (a
 * transpose, a slice) changes its base as in torch; then it bumps the storage's version counter, so
 * a backward whose graph saved the old values refuses to run (tape.ts), and returns self.
 *
 * The checks are torch's: self keeps its shape (other must broadcast to it); other has self's dtype
 * (mixed dtypes are refused project-wide, copy_ included, where torch converts); a written-to tensor
 * whose elements share memory (an expanded one) is refused, except by fill_/zero_, for which torch's
 * TensorIterator skips that check. An operand in the same memory as self: laid out exactly as self
 * (x.add_(x)) it is read element by element as it is written, which is correct; partly overlapping
 * where torch can tell (both tensors dense, x.copy_(x.t())) it is refused with torch's message; where
 * torch cannot tell (a strided view) and so writes in its loop order, it is copied first here, so the
 * result is as if it had been read in full before the first write.
 *
 * Autograd: in grad mode self must not require grad. For a leaf that is torch's error too; for a
 * non-leaf torch would rebase the tensor's history onto the in-place op, which this tape does not
 * do, so it is refused with the out-of-place op to use instead. Likewise an operand that requires
 * grad (torch would record the op). Inside noGrad everything is allowed, as in torch: that is how a
 * manual parameter update is written, `noGrad(() => p.sub_(p.grad!.mul(lr)))`.
 */
import { allocate, overflowsDtype, type DType } from '../lib/core/dtype';
import { checkKnownKeys, fail, fmtShape, fmtValue } from '../lib/core/errors';
import { broadcastShape, contiguousStrides, shapesEqual } from '../lib/core/shape';
import * as ew from '../lib/kernels/elementwise';
import { clampBounds } from './checks';
import { broadcastView, strided } from './kernel_args';
import { isGradEnabled } from './tape';
import { Tensor, type TensorLike } from './tensor';

export interface AddInplaceOptions {
  /**
   * The multiplier of other: self + alpha·other (add_) or self − alpha·other (sub_); default 1. In
   * self's dtype: for float32 a finite alpha beyond its range is an error, as torch's checked conversion.
   */
  alpha?: number;
}

type InplaceOp = 'add_' | 'sub_' | 'mul_' | 'div_' | 'zero_' | 'fill_' | 'copy_' | 'clamp_' | 'neg_';

/** What to write instead, for the autograd errors. */
const OUT_OF_PLACE: Record<InplaceOp, string> = {
  add_: 'x.add(other)', sub_: 'x.sub(other)', mul_: 'x.mul(other)', div_: 'x.div(other)', zero_: 'zerosLike(x)',
  fill_: 'fullLike(x, value)', copy_: 'src.expand(x.shape).clone()', clamp_: 'x.clamp(min, max)', neg_: 'x.neg()',
};

export function add_(self: Tensor, other: TensorLike, options?: AddInplaceOptions | null): Tensor {
  return binaryInplace('add_', self, other, alphaOf('add_', options));
}

export function sub_(self: Tensor, other: TensorLike, options?: AddInplaceOptions | null): Tensor {
  return binaryInplace('sub_', self, other, alphaOf('sub_', options));
}

export function mul_(self: Tensor, other: TensorLike): Tensor {
  return binaryInplace('mul_', self, other, 1);
}

export function div_(self: Tensor, other: TensorLike): Tensor {
  return binaryInplace('div_', self, other, 1);
}

/** Fills self with value (torch's checked conversion: a finite value beyond float32's range is an error). */
export function fill_(self: Tensor, value: number): Tensor {
  return fillWith('fill_', self, value);
}

export function zero_(self: Tensor): Tensor {
  return fillWith('zero_', self, 0);
}

/** Copies src (broadcast to self's shape, same dtype) into self's elements. */
export function copy_(self: Tensor, src: Tensor): Tensor {
  const op = 'copy_';
  if (!(src instanceof Tensor)) fail(op, `src must be a Tensor, got ${fmtValue(src)}`);
  if (src.dtype !== self.dtype) {
    fail(op, `dtype mismatch: self is ${self.dtype} ${fmtShape(self.shape)} but src is ${src.dtype} ${fmtShape(src.shape)}; ` +
      `this project does not convert in copy_ (torch does): pass src.to('${self.dtype}')`);
  }
  checkResultShape(op, self, src, 'src');
  checkAutograd(op, self, src, 'src');
  checkWritable(op, self);
  const overlap = overlapWith(op, self, src, 'src');
  // Laid out exactly as self, src already holds the values: torch returns early too.
  if (overlap !== 'full') {
    const s = overlap === 'unknown' ? copyOf(src) : src;
    ew.copyStrided(self.shape, broadcastView(s, self.shape), strided(self));
  }
  self._bumpVersion();
  return self;
}

export function neg_(self: Tensor): Tensor {
  const op = 'neg_';
  checkAutograd(op, self);
  checkWritable(op, self);
  unaryInplace(self, (x, n) => ew.unary('neg', x, 0, x, n));
  self._bumpVersion();
  return self;
}

/** Clamps self into [min, max] (either may be omitted, not both); NaN stays NaN; min > max gives max, and both given with one NaN gives NaN, as torch. */
export function clamp_(self: Tensor, min?: number | null, max?: number | null): Tensor {
  const op = 'clamp_';
  const [lo, hi] = clampBounds(op, self.dtype, min, max);
  checkAutograd(op, self);
  checkWritable(op, self);
  unaryInplace(self, (x, n) => ew.clamp(x, 0, x, n, lo, hi));
  self._bumpVersion();
  return self;
}

// ---- shared parts ----

function alphaOf(op: InplaceOp, options: AddInplaceOptions | null | undefined): number {
  if (options === undefined || options === null) return 1;
  checkKnownKeys(op, options, ['alpha']);
  const alpha = options.alpha ?? 1;
  if (typeof alpha !== 'number') fail(op, `alpha must be a number, got ${fmtValue(alpha)}`);
  return alpha;
}

function binaryInplace(op: 'add_' | 'sub_' | 'mul_' | 'div_', self: Tensor, other: TensorLike, alpha: number): Tensor {
  let b: Tensor;
  if (typeof other === 'number') b = filledScalar(other, self.dtype);
  else if (other instanceof Tensor) b = other;
  else fail(op, `other must be a Tensor or a number, got ${fmtValue(other)}`);
  if (b.dtype !== self.dtype) {
    fail(op, `dtype mismatch: 'self' is ${self.dtype} ${fmtShape(self.shape)} but 'other' is ${b.dtype} ${fmtShape(b.shape)}; convert other with .to('${self.dtype}')`);
  }
  if (overflowsDtype(alpha, self.dtype)) {
    // torch's alpha.to<float>() is the checked conversion.
    fail(op, `alpha ${alpha} cannot be converted to float32 without overflow (self of shape ${fmtShape(self.shape)})`);
  }
  checkResultShape(op, self, b, 'other');
  checkAutograd(op, self, b, 'other');
  checkWritable(op, self);
  if (overlapWith(op, self, b, 'other') === 'unknown') b = copyOf(b);
  let kernel: 'add' | 'sub' | 'mul' | 'div' = op === 'add_' ? 'add' : op === 'sub_' ? 'sub' : op === 'mul_' ? 'mul' : 'div';
  if (alpha !== 1) {
    // torch's a + alpha·b with alpha in the dtype (sub_ is add_ with −alpha), the product rounded
    // to the dtype before the sum as torch's scalar loop does.
    b = scaledCopy(b, kernel === 'sub' ? -alpha : alpha);
    kernel = 'add';
  }
  const n = self.numel();
  const bView = broadcastView(b, self.shape);
  if (self.isContiguous()) {
    // Straight into the storage: other is either elsewhere or self's own elements at the same index.
    ew.binary(kernel, self.shape, strided(self), bView, self.storage.subarray(self.offset, self.offset + n));
  } else {
    const tmp = allocate(self.dtype, n);
    ew.binary(kernel, self.shape, strided(self), bView, tmp);
    ew.copyStrided(self.shape, { storage: tmp, offset: 0, strides: contiguousStrides(self.shape) }, strided(self));
  }
  self._bumpVersion();
  return self;
}

function fillWith(op: 'fill_' | 'zero_', self: Tensor, value: number): Tensor {
  if (typeof value !== 'number') fail(op, `value must be a number, got ${fmtValue(value)}${(value as unknown) instanceof Tensor ? '; pass value.item()' : ''}`);
  if (overflowsDtype(value, self.dtype)) {
    fail(op, `value ${value} cannot be converted to float32 without overflow (tensor of shape ${fmtShape(self.shape)})`);
  }
  checkAutograd(op, self);
  // No internal-overlap check: every element gets the same value, so an expanded self is fine (torch).
  ew.fillStrided(self.shape, strided(self), value);
  self._bumpVersion();
  return self;
}

/** f over self's elements as one contiguous array, in place (through a copy when self is a strided view). */
function unaryInplace(self: Tensor, f: (x: Float32Array | Float64Array, n: number) => void): void {
  const n = self.numel();
  if (self.isContiguous()) {
    f(self.storage.subarray(self.offset, self.offset + n), n);
    return;
  }
  const tmp = self.data; // a copy for a non-contiguous tensor
  f(tmp, n);
  ew.copyStrided(self.shape, { storage: tmp, offset: 0, strides: contiguousStrides(self.shape) }, strided(self));
}

function checkResultShape(op: InplaceOp, self: Tensor, other: Tensor, name: string): void {
  const shape = broadcastShape(op, self.shape, other.shape);
  if (!shapesEqual(shape, self.shape)) {
    fail(op, `output with shape ${fmtShape(self.shape)} doesn't match the broadcast shape ${fmtShape(shape)} ` +
      `(self ${fmtShape(self.shape)}, ${name} ${fmtShape(other.shape)}): an in-place op cannot change self's shape`);
  }
}

function checkAutograd(op: InplaceOp, self: Tensor, other?: Tensor, name = 'other'): void {
  if (!isGradEnabled()) return;
  if (self.requiresGrad) {
    if (self.isLeaf) {
      fail(op, `a leaf tensor that requires grad is being used in an in-place operation (shape ${fmtShape(self.shape)}); ` +
        `update it inside noGrad(() => ...), as an optimizer step does, or use the out-of-place ${OUT_OF_PLACE[op]}`);
    }
    fail(op, `in-place operation on a tensor that requires grad and was produced by ${self.gradFn!.name} (shape ${fmtShape(self.shape)}, ` +
      `a view of a leaf that requires grad included): tsgrad does not record in-place ops (torch rebases the history); ` +
      `use the out-of-place ${OUT_OF_PLACE[op]}`);
  }
  if (other !== undefined && other.requiresGrad) {
    fail(op, `${name} (shape ${fmtShape(other.shape)}) requires grad: tsgrad does not record in-place ops (torch would); ` +
      `use the out-of-place ${OUT_OF_PLACE[op]}, or run it inside noGrad(() => ...) if no gradient should flow through it`);
  }
}

/** torch's internal-overlap test: a dim of size > 1 with stride 0 (an expanded tensor) is refused. */
function checkWritable(op: InplaceOp, self: Tensor): void {
  if (isNonOverlappingAndDense(self)) return;
  if (self.shape.some((d, i) => d > 1 && self.strides[i] === 0)) {
    fail(op, `unsupported operation: more than one element of the written-to tensor (shape ${fmtShape(self.shape)}, ` +
      `strides ${fmtShape(self.strides)}) refers to a single memory location; clone() it before the in-place op`);
  }
}

/**
 * torch's get_overlap_status of self and an operand: 'full' when they are the same elements laid out
 * alike, 'unknown' when they share a buffer and one is not dense (torch does not check these), 'no'
 * otherwise; 'partial' (both dense, overlapping differently) is an error, as in torch.
 */
function overlapWith(op: InplaceOp, self: Tensor, other: Tensor, name: string): 'no' | 'full' | 'unknown' {
  if (self === other) return 'full';
  if (self.numel() === 0 || other.numel() === 0) return 'no';
  if (self.storage.buffer !== other.storage.buffer) return 'no';
  if (!isNonOverlappingAndDense(self) || !isNonOverlappingAndDense(other)) return 'unknown';
  const aBegin = self.storage.byteOffset + self.offset * self.storage.BYTES_PER_ELEMENT;
  const aEnd = aBegin + self.numel() * self.storage.BYTES_PER_ELEMENT;
  const bBegin = other.storage.byteOffset + other.offset * other.storage.BYTES_PER_ELEMENT;
  const bEnd = bBegin + other.numel() * other.storage.BYTES_PER_ELEMENT;
  const sameStrides = self.strides.length === other.strides.length && self.strides.every((s, i) => s === other.strides[i]);
  if (aBegin === bBegin && aEnd === bEnd && sameStrides) return 'full';
  if (aBegin < bEnd && bBegin < aEnd) {
    fail(op, `unsupported operation: some elements of ${name} (shape ${fmtShape(other.shape)}, strides ${fmtShape(other.strides)}) ` +
      `and the written-to tensor (shape ${fmtShape(self.shape)}, strides ${fmtShape(self.strides)}) refer to a single memory location; ` +
      `clone() ${name} before the in-place op`);
  }
  return 'no';
}

/** torch's is_non_overlapping_and_dense: the dims of size > 1, sorted by stride, step as a contiguous layout. */
function isNonOverlappingAndDense(t: Tensor): boolean {
  const dims: number[] = [];
  for (let i = 0; i < t.shape.length; i++) if (t.shape[i] > 1) dims.push(i);
  dims.sort((a, b) => t.strides[a] - t.strides[b]);
  let want = 1;
  for (const d of dims) {
    if (t.strides[d] !== want) return false;
    want *= t.shape[d];
  }
  return true;
}

function filledScalar(v: number, dtype: DType): Tensor {
  const t = Tensor.empty([], dtype);
  t.storage[0] = v;
  return t;
}

/** A contiguous copy in fresh storage, so reading it cannot see the writes into self. */
function copyOf(t: Tensor): Tensor {
  const out = Tensor.empty(t.shape, t.dtype);
  ew.copyStrided(t.shape, strided(t), strided(out));
  return out;
}

/** alpha·t in t's dtype, in fresh storage. */
function scaledCopy(t: Tensor, alpha: number): Tensor {
  const out = Tensor.empty(t.shape, t.dtype);
  const a = allocate(t.dtype, 1);
  a[0] = alpha;
  ew.binary('mul', t.shape, strided(t), { storage: a, offset: 0, strides: t.shape.map(() => 0) }, out.storage);
  return out;
}
