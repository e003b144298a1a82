/**
 * Argument checks shared by the functional ops (autograd/functional.ts), the in-place methods and
 * the nn layers, which must refuse the same bad options with the same messages. Kept out of
 * functional.ts so they are not part of the public `F` namespace.
 */
import { overflowsDtype, type DType } from '../lib/core/dtype';
import { checkKnownKeys, fail, fmtValue } from '../lib/core/errors';
import { pair } from '../lib/core/shape';
import type { EmbeddingOptions } from './functional';

/**
 * An optional options argument: null counts as omitted (as undefined); anything else must be an
 * object whose keys are all in `allowed` (a misspelt option is an error, not silently ignored).
 */
export function optionsObject<O extends object>(op: string, options: O | null | undefined, allowed: readonly string[]): O | Record<string, never> {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') fail(op, `options must be an object, got ${fmtValue(options)}`);
  checkKnownKeys(op, options, allowed);
  return options;
}

/**
 * clamp's and clamp_'s bounds: at least one given, numbers, and in float32 none finite beyond its
 * range (torch's checked Scalar conversion; ±Infinity and NaN pass).
 */
export function clampBounds(op: string, dtype: DType, min: unknown, max: unknown): [number | null, number | null] {
  const lo = min ?? null, hi = max ?? null;
  if (lo === null && hi === null) fail(op, 'at least one of min and max must be given');
  if ((lo !== null && typeof lo !== 'number') || (hi !== null && typeof hi !== 'number')) {
    fail(op, `min and max must be numbers, got min=${fmtValue(min)}, max=${fmtValue(max)}`);
  }
  for (const [name, v] of [['min', lo], ['max', hi]] as const) {
    if (v !== null && overflowsDtype(v, dtype)) fail(op, `${name} ${v} cannot be converted to ${dtype} without overflow`);
  }
  return [lo, hi];
}

/** F.embedding's options, checked and resolved against N rows (paddingIdx normalised, −1 for none); nn.Embedding checks with them too. */
export function embeddingOptions(op: string, options: EmbeddingOptions | null | undefined, N: number): {
  paddingIdx: number; maxNorm: number | null; normType: number; scaleGradByFreq: boolean;
} {
  const o = optionsObject(op, options, ['paddingIdx', 'maxNorm', 'normType', 'scaleGradByFreq', 'sparse']);
  const p = o.paddingIdx ?? null;
  if (p !== null && (typeof p !== 'number' || !Number.isInteger(p) || p < -N || p >= N)) {
    fail(op, `paddingIdx must be an integer within numEmbeddings ${N} (in [${-N}, ${N - 1}]), got ${fmtValue(p)}`);
  }
  const scaleGradByFreq = o.scaleGradByFreq ?? false;
  if (typeof scaleGradByFreq !== 'boolean') fail(op, `scaleGradByFreq must be a boolean, got ${fmtValue(scaleGradByFreq)}`);
  if (o.sparse !== undefined && o.sparse !== false) fail(op, `sparse gradients are not supported (there are no sparse tensors), got sparse: ${fmtValue(o.sparse)}`);
  const maxNorm = o.maxNorm ?? null;
  const normType = o.normType ?? 2;
  if (maxNorm !== null && (typeof maxNorm !== 'number' || !(maxNorm >= 0) || maxNorm === Infinity)) fail(op, `maxNorm must be a finite non-negative number, got ${fmtValue(maxNorm)}`);
  if (typeof normType !== 'number' || !(normType > 0)) fail(op, `normType must be a positive number (or Infinity), got ${fmtValue(normType)}`);
  return { paddingIdx: p === null ? -1 : p < 0 ? p + N : p, maxNorm, normType, scaleGradByFreq };
}

/** A padding string as torch's _ConvNd checks it: 'valid', or 'same' with stride 1 only. */
export function checkPaddingString(op: string, padding: unknown, stride: number | readonly number[] | undefined): void {
  if (padding !== 'same' && padding !== 'valid') fail(op, `invalid padding string ${JSON.stringify(padding)}, should be one of 'valid', 'same'`);
  const [sh, sw] = pair(op, 'stride', stride ?? 1, 1);
  if (padding === 'same' && (sh !== 1 || sw !== 1)) fail(op, "padding='same' is not supported for strided convolutions");
}

/** torch's normalized_shape: an integer or a non-empty list of non-negative integers, as an array. */
export function checkNormalizedShape(op: string, normalizedShape: unknown): number[] {
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
  if (!Array.isArray(ns) || !ns.every((d) => Number.isInteger(d) && d >= 0)) {
    fail(op, `normalizedShape must be a non-negative integer or an array of them, got ${fmtValue(normalizedShape)}`);
  }
  if (ns.length === 0) fail(op, 'normalizedShape must have at least one dim, got []');
  return [...(ns as number[])];
}
