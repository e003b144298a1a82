/**
 * Small adapters between Tensor and the typed-array kernels of lib/: contiguous data with
 * offset 0, strided views, broadcast views.
 */
import { type FloatArray } from '../lib/core/dtype';
import { type StridedView } from '../lib/kernels/elementwise';
import { Tensor } from './tensor';

/** Row-major contiguous data of t starting at index 0 (zero-copy when t is contiguous). */
export function dense(t: Tensor): FloatArray {
  return t.data;
}

/** t's storage seen through its own shape and strides. */
export function strided(t: Tensor): StridedView {
  return { storage: t.storage, offset: t.offset, strides: t.strides };
}

/** t as a strided view aligned to `shape` (t's shape broadcast to it: stride 0 on broadcast dims). */
export function broadcastView(t: Tensor, shape: readonly number[]): StridedView {
  const nd = shape.length;
  const off = nd - t.shape.length;
  const strides = new Array<number>(nd).fill(0);
  for (let i = 0; i < t.shape.length; i++) {
    strides[off + i] = t.shape[i] === 1 && shape[off + i] !== 1 ? 0 : t.strides[i];
  }
  return { storage: t.storage, offset: t.offset, strides };
}

/** A new contiguous tensor over freshly computed data. */
export function fromData(data: FloatArray, shape: readonly number[]): Tensor {
  return new Tensor(data, shape);
}
