/**
 * One optimizer step on a narrow ResNet18's real gradients against PyTorch 1.13 (CPU, float64):
 * `../shared/fixtures/torch/resnet18_*` hold the initial parameters (model.*), their gradients
 * (grad.model.*) and the parameters after one torch.optim step (step.model.*).
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { DType, FloatArray } from '../../../lib/core/dtype';
import { Adam, AdamW } from '../../../lib/optim/adam';
import { Optimizer, Parameter, BaseHyperParams } from '../../../lib/optim/optimizer';
import { SGD } from '../../../lib/optim/sgd';

const FIXTURES = path.resolve(__dirname, '../../../../shared/fixtures/torch');

interface Tol {
  atol: number;
  rtol: number;
}
interface Case {
  name: string;
  op: string;
  file: string;
  params: { optimizer: Record<string, unknown> };
  tolerance: { float64: Tol; float32: Tol };
}

/** Minimal reader for the fixtures' safetensors files (F64 tensors only are needed here). */
function readF64Tensors(file: string): Map<string, Float64Array> {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const base = 8 + n;
  const out = new Map<string, Float64Array>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__' || info.dtype !== 'F64') continue;
    const [b, e] = info.data_offsets;
    const bytes = buf.subarray(base + b, base + e);
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    out.set(name, new Float64Array(copy.buffer));
  }
  return out;
}

/** torch.optim arguments the runner maps, per type; any other key fails the case instead of being ignored. */
const KNOWN_ARGS: Record<string, readonly string[]> = {
  sgd: ['lr', 'momentum', 'dampening', 'weight_decay', 'nesterov', 'maximize'],
  adam: ['lr', 'betas', 'eps', 'weight_decay', 'amsgrad', 'maximize'],
  adamw: ['lr', 'betas', 'eps', 'weight_decay', 'amsgrad', 'maximize'],
};
/** torch arguments that pick an implementation, not the arithmetic of a CPU step. */
const IMPLEMENTATION_ARGS = ['foreach', 'differentiable', 'capturable'];

function makeOptimizer(params: Parameter[], cfg: Record<string, unknown>): Optimizer<BaseHyperParams> {
  const num = (k: string): number | undefined => (cfg[k] === undefined ? undefined : Number(cfg[k]));
  const bool = (k: string): boolean | undefined => (cfg[k] === undefined ? undefined : Boolean(cfg[k]));
  const known = KNOWN_ARGS[String(cfg.type)];
  if (known === undefined) throw new Error(`unknown optimizer type ${String(cfg.type)}`);
  for (const k of Object.keys(cfg)) {
    if (k !== 'type' && !known.includes(k) && !IMPLEMENTATION_ARGS.includes(k)) {
      throw new Error(`the runner does not map the ${String(cfg.type)} argument '${k}'`);
    }
  }
  switch (cfg.type) {
    case 'sgd':
      return new SGD(params, {
        lr: Number(cfg.lr),
        momentum: num('momentum'),
        dampening: num('dampening'),
        weightDecay: num('weight_decay'),
        nesterov: bool('nesterov'),
        maximize: bool('maximize'),
      });
    case 'adam':
    case 'adamw': {
      const betas = cfg.betas as [number, number] | undefined;
      const opts = {
        lr: num('lr'), betas, eps: num('eps'), weightDecay: num('weight_decay'), amsgrad: bool('amsgrad'), maximize: bool('maximize'),
      };
      return cfg.type === 'adam' ? new Adam(params, opts) : new AdamW(params, opts);
    }
    default:
      throw new Error(`unknown optimizer type ${String(cfg.type)}`);
  }
}

function convert(a: Float64Array, dtype: DType): FloatArray {
  return dtype === 'float64' ? a.slice() : Float32Array.from(a);
}

describe('lib/optim against PyTorch fixtures', function () {
  const manifestPath = path.join(FIXTURES, 'manifest.json');
  const cases: Case[] = fs.existsSync(manifestPath)
    ? (JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as { cases: Case[] }).cases.filter((c) => c.op === 'resnet18')
    : [];

  it('finds the optimizer cases', function () {
    if (!fs.existsSync(manifestPath)) this.skip();
    expect(cases.length).to.be.greaterThan(0);
  });

  for (const c of cases) {
    for (const dtype of ['float64', 'float32'] as const) {
      it(`${c.name} (${JSON.stringify(c.params.optimizer)}), ${dtype}: one step matches step.model.*`, () => {
        const t = readF64Tensors(path.join(FIXTURES, c.file));
        const keys = [...t.keys()].filter((k) => k.startsWith('step.model.')).map((k) => k.slice('step.model.'.length));
        expect(keys.length).to.be.greaterThan(0);
        const params: Parameter[] = keys.map((k) => {
          const data = t.get(`model.${k}`);
          const grad = t.get(`grad.model.${k}`);
          if (!data || !grad) throw new Error(`fixture ${c.name} lacks model.${k} or grad.model.${k}`);
          return { data: convert(data, dtype), grad: { data: convert(grad, dtype) } };
        });
        makeOptimizer(params, c.params.optimizer).step();
        const tol = c.tolerance[dtype];
        keys.forEach((k, j) => {
          const expected = t.get(`step.model.${k}`) as Float64Array;
          let maxAbs = 0;
          let maxErr = 0;
          for (let i = 0; i < expected.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
            maxErr = Math.max(maxErr, Math.abs(params[j].data[i] - expected[i]));
          }
          expect(maxErr, `${k}: max error ${maxErr}`).to.be.at.most(tol.atol + tol.rtol * maxAbs);
          // The design target for float64 is agreement with torch to ~1e-12, tighter than the case's tolerance.
          if (dtype === 'float64') expect(maxErr, `${k}: max error ${maxErr}`).to.be.at.most(1e-12 * maxAbs);
        });
      });
    }
  }
});
