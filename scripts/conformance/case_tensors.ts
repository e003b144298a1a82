/**
 * The tensors of one case file, handed out in the run's dtype. Every input an op runner takes is
 * recorded, so the runner can prove afterwards that no input in the file was silently ignored.
 */
import { tensor, type Tensor } from '../../index';
import { toFloatArray, type SafetensorsTensor } from '../../lib/io/safetensors';
import type { ArrayData } from './compare';
import type { RunDType } from './manifest';
import { CaseError } from './params';

export class CaseTensors {
  private readonly used = new Set<string>();

  constructor(
    /** "case NAME (op)", prefixed to every message. */
    readonly where: string,
    readonly file: string,
    private readonly tensors: ReadonlyMap<string, SafetensorsTensor>,
    readonly dtype: RunDType,
  ) {}

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** Names with this prefix, in file order. */
  withPrefix(prefix: string): string[] {
    return this.names().filter((n) => n.startsWith(prefix));
  }

  /** Inputs present in the file that no runner code asked for. */
  unused(): string[] {
    return this.names().filter((n) => !this.used.has(n) && isInputName(n));
  }

  private raw(name: string): SafetensorsTensor {
    const t = this.tensors.get(name);
    if (t === undefined) throw new CaseError(`${this.where}: ${this.file} has no tensor '${name}'`);
    this.used.add(name);
    return t;
  }

  /** A tensor in the run's dtype (float32 runs round the float64 reference inputs once, here). */
  tensor(name: string, options: { requiresGrad?: boolean } = {}): Tensor {
    const t = this.raw(name);
    this.requireFloat(name, t);
    return tensor(toFloatArray(t, this.dtype), { dtype: this.dtype, shape: t.shape, requiresGrad: options.requiresGrad ?? false });
  }

  optionalTensor(name: string, options: { requiresGrad?: boolean } = {}): Tensor | null {
    return this.has(name) ? this.tensor(name, options) : null;
  }

  /** Values in the run's dtype without making a Tensor (model state for loadStateDict). */
  arrayData(name: string): ArrayData {
    const t = this.raw(name);
    return { shape: t.shape, data: toFloatArray(t, this.dtype) };
  }

  /** Integer tensor (class indices): PyTorch requires int64 here, so a float tensor is a malformed case. */
  integers(name: string): { shape: number[]; values: number[] } {
    const t = this.raw(name);
    if (t.dtype !== 'I64' && t.dtype !== 'I32' && t.dtype !== 'U8') {
      throw new CaseError(`${this.where}: '${name}' must hold integer class indices (I64), got ${t.dtype}`);
    }
    return { shape: t.shape, values: Array.from(toFloatArray(t, 'float64')) };
  }

  dtypeOf(name: string): string | undefined {
    return this.tensors.get(name)?.dtype;
  }

  shapeOf(name: string): number[] | undefined {
    return this.tensors.get(name)?.shape;
  }

  /** An expected tensor in float64, for comparison (never counted as an input). */
  expected(name: string): ArrayData {
    const t = this.tensors.get(name);
    if (t === undefined) throw new CaseError(`${this.where}: ${this.file} has no tensor '${name}'`);
    return { shape: t.shape, data: toFloatArray(t, 'float64') };
  }

  private requireFloat(name: string, t: SafetensorsTensor): void {
    if (t.dtype !== 'F64' && t.dtype !== 'F32') {
      throw new CaseError(`${this.where}: '${name}' must be a floating-point tensor (F64/F32), got ${t.dtype}`);
    }
  }
}

/** Tensors the op consumes; everything else (out., grad., step.) is an expectation. */
export function isInputName(name: string): boolean {
  return name.startsWith('in.') || name.startsWith('model.') || name.startsWith('gradout.');
}

export function isExpectedName(name: string): boolean {
  return name.startsWith('out.') || name.startsWith('grad.') || name.startsWith('step.');
}
