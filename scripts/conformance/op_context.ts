/**
 * What an op runner receives and returns. A runner computes "actuals" keyed by the expected
 * tensor names (`out.output`, `grad.weight`, ...); the driver then matches them against the
 * expected tensors the case file actually holds.
 */
import type { Tensor } from '../../index';
import type { CaseTensors } from './case_tensors';
import type { ArrayData } from './compare';
import type { JsonObject, RunDType } from './manifest';

export type Actual =
  /** `extra`: state the file may or may not hold a reference for (no note when it does not). */
  | { readonly kind: 'value'; readonly value: ArrayData; readonly extra: boolean }
  /** The runner knows this tensor but could not produce it; the reason is shown as "skipped". */
  | { readonly kind: 'missing'; readonly reason: string };

export type Actuals = Map<string, Actual>;

export interface OpContext {
  /** "case NAME (op)", prefixed to every message. */
  readonly where: string;
  readonly dtype: RunDType;
  readonly params: JsonObject;
  readonly io: CaseTensors;
}

export interface OpSpec {
  /** PyTorch parameter names this runner supports (anything else in `params` is an error). */
  readonly params: readonly string[];
  /** Accepted `in.<name>` inputs. */
  readonly inputs: readonly string[];
  /** Outputs that may be seeded with `gradout.<name>`. */
  readonly gradOutputs: readonly string[];
  /** Whether `model.<key>` tensors (a state dict) are accepted. */
  readonly modelState: boolean;
  run(ctx: OpContext): Actuals;
}

/** Copies a tensor's values out (later in-place updates, e.g. an optimizer step, must not change them). */
export function valueOf(t: Tensor, extra = false): Actual {
  return { kind: 'value', value: { shape: [...t.shape], data: t.dataSync() }, extra };
}

export function missing(reason: string): Actual {
  return { kind: 'missing', reason };
}
