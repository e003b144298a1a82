/**
 * train-cifar's --optimizer beyond sgd/adam/adamw: rmsprop, adagrad, nadam, radam, adamax and
 * adadelta. The references are torch 1.13's documented constructor defaults (torch.optim.RMSprop:
 * lr 1e-2, alpha 0.99, eps 1e-8, momentum 0, centered False; Adagrad: lr 1e-2, lr_decay 0,
 * initial_accumulator_value 0, eps 1e-10; NAdam: lr 2e-3, betas (0.9, 0.999), eps 1e-8,
 * momentum_decay 4e-3; RAdam: lr 1e-3, betas (0.9, 0.999), eps 1e-8; Adamax: lr 2e-3, betas
 * (0.9, 0.999), eps 1e-8; Adadelta: lr 1.0, rho 0.9, eps 1e-6) and torch 1.13's OneCycleLR, which
 * with cycle_momentum=False touches only the lr (its "optimizer must support momentum" check runs
 * only with cycle_momentum on). Short runs on the synthetic set check the wiring end to end: the
 * checkpoint names the optimizer and holds its state, one step per batch.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../scripts/train-cifar';
import { loadCheckpoint, saveCheckpoint } from '../../lib/io/checkpoint';
import type { OptimizerStateDict } from '../../lib/optim/index';
import { parseCommandLine } from '../../scripts/train/options';
import type { OptimizerName } from '../../scripts/train/options';
import { buildModel, buildOptimizer, buildScheduler } from '../../scripts/train/setup';
import { Tensor } from '../../autograd/tensor';
import { Capture } from '../support/capture';

/** main() in-process; `stopAt` raises the stop flag after that global step, as SIGINT would. */
async function run(args: string[], stopAt?: number): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const stop: { requested: string | null } = { requested: null };
  const onStep = (step: number): void => {
    if (step === stopAt) stop.requested = 'SIGINT';
  };
  const code = await main([...args, '--threads', '1'], { stdout, stderr, stop, onStep });
  return { code, out: stdout.text, err: stderr.text };
}

function expectOneLine(err: string): string {
  expect(err.endsWith('\n'), JSON.stringify(err)).to.equal(true);
  expect(err.slice(0, -1), JSON.stringify(err)).to.not.include('\n');
  expect(err).to.match(/^train-cifar: /);
  return err.slice(0, -1);
}

type NewOptimizer = Exclude<OptimizerName, 'sgd' | 'adam' | 'adamw'>;

/** torch 1.13's defaults (see the header), in our camelCase names, plus the class name and its state entries. */
const TORCH: Record<NewOptimizer, { cls: string; lr: number; hyper: Record<string, unknown>; state: string[] }> = {
  rmsprop: { cls: 'RMSprop', lr: 1e-2, hyper: { alpha: 0.99, eps: 1e-8, momentum: 0, centered: false, maximize: false }, state: ['squareAvg', 'step'] },
  adagrad: { cls: 'Adagrad', lr: 1e-2, hyper: { lrDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false }, state: ['step', 'sum'] },
  nadam: { cls: 'NAdam', lr: 2e-3, hyper: { betas: [0.9, 0.999], eps: 1e-8, momentumDecay: 4e-3 }, state: ['expAvg', 'expAvgSq', 'muProduct', 'step'] },
  radam: { cls: 'RAdam', lr: 1e-3, hyper: { betas: [0.9, 0.999], eps: 1e-8 }, state: ['expAvg', 'expAvgSq', 'step'] },
  adamax: { cls: 'Adamax', lr: 2e-3, hyper: { betas: [0.9, 0.999], eps: 1e-8, maximize: false }, state: ['expAvg', 'expInf', 'step'] },
  adadelta: { cls: 'Adadelta', lr: 1.0, hyper: { rho: 0.9, eps: 1e-6, maximize: false }, state: ['accDelta', 'squareAvg', 'step'] },
};
const NEW = Object.keys(TORCH) as NewOptimizer[];
const TINY = ['--width', '2', '--synthetic-train', '64', '--synthetic-test', '20', '--batch-size', '32', '--log-every', '100'];

describe('scripts/train-cifar: the optimizers beyond sgd and adam', function () {
  let dir: string;
  const fresh = (): string => path.join(dir, `out-${Math.random().toString(36).slice(2)}`);
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-optim-cli-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('options', () => {
    it("each new name parses, with torch's default lr and the momentum torch's class starts with", () => {
      for (const name of NEW) {
        const { config, explicit } = parseCommandLine(['--optimizer', name]);
        expect(config.optimizer).to.equal(name);
        expect(config.lr, name).to.equal(TORCH[name].lr);
        expect(config.momentum, name).to.equal(0);
        expect(config.nesterov).to.equal(false);
        expect(config.weightDecay).to.equal(5e-4);
        expect([...explicit]).to.deep.equal(['optimizer']);
        expect(parseCommandLine(['--optimizer', name, '--lr', '0.25', '--weight-decay', '0.01']).config).to.include({ lr: 0.25, weightDecay: 0.01 });
      }
      // sgd, adam and adamw keep their tuned defaults.
      expect(parseCommandLine(['--optimizer', 'sgd']).config).to.include({ lr: 0.05, momentum: 0.9 });
      expect(parseCommandLine([]).config).to.include({ optimizer: 'adam', lr: 0.008 });
      expect(parseCommandLine(['--optimizer', 'rmsprop', '--momentum', '0.5']).config.momentum).to.equal(0.5);
    });

    const refused: [string, string[], string][] = [
      ...(['adam', 'adamw', 'nadam', 'radam', 'adamax'] as const).map((o): [string, string[], string] => [
        `--momentum with ${o}`, ['--optimizer', o, '--momentum', '0.5'],
        `train-cifar: --momentum applies to --optimizer sgd or rmsprop only, not ${o} (its betas are torch's 0.9, 0.999)`]),
      ['--momentum with adagrad', ['--optimizer', 'adagrad', '--momentum', '0.5'],
        'train-cifar: --momentum applies to --optimizer sgd or rmsprop only, not adagrad (Adagrad has no momentum)'],
      ['--momentum with adadelta', ['--optimizer', 'adadelta', '--momentum', '0'],
        "train-cifar: --momentum applies to --optimizer sgd or rmsprop only, not adadelta (Adadelta has no momentum; its rho is torch's 0.9)"],
      ...(['adam', ...NEW] as const).map((o): [string, string[], string] => [
        `--nesterov with ${o}`, ['--optimizer', o, '--nesterov'], `train-cifar: --nesterov applies to --optimizer sgd only, not ${o}`]),
      ['--momentum of 1 with rmsprop', ['--optimizer', 'rmsprop', '--momentum', '1'], 'train-cifar: --momentum must be >= 0 and < 1, got 1'],
      ['an unknown optimizer', ['--optimizer', 'lbfgs'],
        'train-cifar: --optimizer must be one of sgd, adam, adamw, rmsprop, adagrad, nadam, radam, adamax, adadelta, got "lbfgs"'],
      ["torch's capitalisation", ['--optimizer', 'RMSprop'],
        'train-cifar: --optimizer must be one of sgd, adam, adamw, rmsprop, adagrad, nadam, radam, adamax, adadelta, got "RMSprop"'],
      ['an lr above the bound with adadelta', ['--optimizer', 'adadelta', '--lr', '101'], 'train-cifar: --lr must be > 0 and <= 100, got 101'],
    ];
    for (const [what, args, line] of refused) {
      it(`refuses ${what} with one line and exit 2`, async () => {
        const out = fresh();
        const r = await run([...args, '--out', out]);
        expect(r.code, r.err).to.equal(2);
        expect(expectOneLine(r.err)).to.equal(line);
        expect(r.out).to.equal('');
        expect(fs.existsSync(out), 'no work started').to.equal(false);
      });
    }

    it('--help lists every optimizer and the per-optimizer defaults', async () => {
      const r = await run(['--help']);
      expect(r.code).to.equal(0);
      expect(r.out).to.include('(sgd | adam | adamw | rmsprop | adagrad | nadam | radam | adamax | adadelta)');
      const text = r.out.replace(/\n {28}/g, ' ');
      expect(text).to.include("torch's defaults: rmsprop 0.01, adagrad 0.01, nadam 0.002, radam 0.001, adamax 0.002, adadelta 1)");
      expect(text).to.include('--momentum X              momentum (sgd and rmsprop only) [default: 0.9 with sgd, 0 with rmsprop]');
      expect(text).to.include('decoupled with adamw, an L2 term added to the gradient with the others, as torch [default: 0.0005]');
    });
  });

  describe('the optimizer and schedule a config builds', () => {
    const model = buildModel({ model: 'resnet18', width: 2, variant: 'imagenet', dtype: 'float32' }, 10);

    it("is torch's class with torch's defaults but lr, the weight decay of the decayed group, and rmsprop's momentum", () => {
      for (const name of NEW) {
        const args = ['--optimizer', name, '--weight-decay', '0.003', ...(name === 'rmsprop' ? ['--momentum', '0.7'] : [])];
        const opt = buildOptimizer(parseCommandLine(args).config, model);
        expect(opt.name).to.equal(TORCH[name].cls);
        expect(opt.paramGroups).to.have.length(2);
        const expected = { ...TORCH[name].hyper, ...(name === 'rmsprop' ? { momentum: 0.7 } : {}), lr: TORCH[name].lr };
        opt.paramGroups.forEach((g, gi) => {
          const h = g as unknown as Record<string, unknown>;
          for (const [k, v] of Object.entries(expected)) expect(h[k], `${name} group ${gi} ${k}`).to.deep.equal(v);
          // Conv and linear weights decay; batch-norm parameters and biases do not.
          expect(h.weightDecay, `${name} group ${gi}`).to.equal(gi === 0 ? 0.003 : 0);
          expect(g.params.every((p) => (gi === 0 ? p.shape!.length > 1 : p.shape!.length === 1))).to.equal(true);
        });
      }
    });

    it("--weight-decay is torch's weight_decay of each class: decoupled in AdamW, an L2 term in the gradient elsewhere", () => {
      // One step from zero gradients, float64. With g = 0 the only gradient is weight decay's, so the
      // decayed group moves by each torch 1.13 update rule at step 1 applied to g = wd·p (AdamW:
      // p·(1 − lr·wd) and nothing else, its moments stay 0); batch-norm parameters and biases stay put.
      const wd = 0.01;
      const b1 = 0.9, b2 = 0.999;
      const rules: Record<OptimizerName, (p: number, lr: number) => number> = {
        sgd: (p, lr) => p - lr * wd * p, // momentum buffer = g at the first step
        adam: (p, lr) => { const g = wd * p; return p - (lr / (1 - b1)) * ((1 - b1) * g) / (Math.sqrt((1 - b2) * g * g) / Math.sqrt(1 - b2) + 1e-8); },
        adamw: (p, lr) => p * (1 - lr * wd),
        rmsprop: (p, lr) => { const g = wd * p; return p - lr * g / (Math.sqrt(0.01 * g * g) + 1e-8); },
        adagrad: (p, lr) => { const g = wd * p; return p - lr * g / (Math.sqrt(g * g) + 1e-10); },
        nadam: (p, lr) => {
          const g = wd * p, psi = 4e-3;
          const mu = b1 * (1 - 0.5 * 0.96 ** psi), muNext = b1 * (1 - 0.5 * 0.96 ** (2 * psi));
          const denom = Math.sqrt((1 - b2) * g * g / (1 - b2)) + 1e-8;
          // torch 1.13 keeps mu_product in torch.tensor(1.), a float32 tensor: 1·μ rounded to float32.
          const muProduct = Math.fround(mu);
          const q = p - lr * (1 - mu) / (1 - muProduct) * g / denom;
          return q - lr * muNext / (1 - muProduct * muNext) * ((1 - b1) * g) / denom;
        },
        radam: (p, lr) => p - lr * wd * p, // rho_1 = 1 <= 5: the bias-corrected first moment, unadapted
        adamax: (p, lr) => { const g = wd * p; return p - (lr / (1 - b1)) * ((1 - b1) * g) / (Math.abs(g) + 1e-8); },
        adadelta: (p, lr) => { const g = wd * p; return p - lr * (Math.sqrt(1e-6) / Math.sqrt(0.1 * g * g + 1e-6)) * g; },
      };
      const m64 = buildModel({ model: 'resnet18', width: 2, variant: 'imagenet', dtype: 'float64' }, 10);
      const start = m64.parameters().map((p) => Float64Array.from(p.data));
      for (const name of Object.keys(rules) as OptimizerName[]) {
        m64.parameters().forEach((p, i) => {
          (p.data as Float64Array).set(start[i]);
          p.grad = new Tensor(new Float64Array(p.data.length), [...p.shape]);
        });
        const config = { ...parseCommandLine(['--optimizer', name, '--weight-decay', String(wd), '--dtype', 'float64']).config };
        const opt = buildOptimizer(config, m64);
        opt.step();
        let checked = 0;
        m64.parameters().forEach((p, i) => {
          for (let k = 0; k < p.data.length; k += 7) {
            const want = p.ndim > 1 ? rules[name](start[i][k], config.lr) : start[i][k];
            expect(p.data[k], `${name} parameter ${i}[${k}]`).to.be.closeTo(want, 1e-12 * Math.abs(start[i][k]) + 1e-300);
            if (p.ndim > 1 && start[i][k] !== 0) expect(p.data[k], `${name} moved`).to.not.equal(start[i][k]);
            checked++;
          }
        });
        expect(checked).to.be.greaterThan(100);
      }
    });

    it('onecycle never cycles momentum: it works for optimizers without momentum or betas, and moves only the lr', () => {
      // torch 1.13: OneCycleLR(opt, max_lr, total_steps=40, pct_start=0.3, cycle_momentum=False) starts at
      // max_lr / 25 and, with cos annealing, reaches max_lr at step 0.3 * 40 - 1 = 11 and max_lr / 25 / 1e4 at step 39.
      for (const name of NEW) {
        const args = ['--optimizer', name, '--epochs', '2', ...(name === 'rmsprop' ? ['--momentum', '0.6'] : [])];
        const config = parseCommandLine(args).config;
        const opt = buildOptimizer(config, model);
        const before = JSON.stringify(opt.paramGroups.map((g) => ({ ...g, lr: 0, initialLr: 0, params: [] })));
        const sched = buildScheduler(config, opt, 20)!;
        const maxLr = TORCH[name].lr;
        const lrs = [opt.paramGroups[0].lr];
        for (let i = 0; i < 39; i++) {
          sched.step();
          lrs.push(opt.paramGroups[0].lr);
          expect(opt.paramGroups[1].lr).to.equal(opt.paramGroups[0].lr);
        }
        expect(lrs[0], name).to.be.closeTo(maxLr / 25, 1e-12 * maxLr);
        expect(lrs[11], name).to.be.closeTo(maxLr, 1e-12 * maxLr);
        expect(lrs[39], name).to.be.closeTo(maxLr / 25 / 1e4, 1e-12 * maxLr);
        const after = JSON.stringify(opt.paramGroups.map((g) => ({ ...g, lr: 0, initialLr: 0, params: [] })));
        expect(after, `${name}: momentum, betas and the rest are as constructed`).to.equal(before);
        if (name === 'rmsprop') expect((opt.paramGroups[0] as unknown as { momentum: number }).momentum).to.equal(0.6);
      }
    });
  });

  describe('short synthetic runs', () => {
    for (const name of NEW) {
      it(`--optimizer ${name} trains 2 steps with onecycle and writes a checkpoint naming it, with its state`, async () => {
        const out = fresh();
        const extra = name === 'rmsprop' ? ['--momentum', '0.9'] : [];
        const r = await run([...TINY, '--epochs', '1', '--optimizer', name, ...extra, '--out', out]);
        expect(r.code, r.err).to.equal(0);
        expect(r.out).to.include(`; ${name} lr ${TORCH[name].lr}${name === 'rmsprop' ? ' momentum 0.9' : ''}, weight decay 0.0005, onecycle schedule`);
        expect(r.out).to.match(/done: test accuracy \d+\.\d\d% after 1 epoch/);
        const ck = loadCheckpoint(path.join(out, 'checkpoint.safetensors'));
        expect(ck.state.config).to.include({ optimizer: name, lr: TORCH[name].lr, momentum: name === 'rmsprop' ? 0.9 : 0, weightDecay: 5e-4 });
        const saved = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf-8')) as { config: { optimizer: string } };
        expect(saved.config.optimizer).to.equal(name);
        const sd = ck.state.optimizer as unknown as OptimizerStateDict;
        expect(sd.paramGroups.map((g) => (g as unknown as { weightDecay: number }).weightDecay)).to.deep.equal([5e-4, 0]);
        const entries = Object.values(sd.state);
        const params = sd.paramGroups.reduce((n, g) => n + g.params.length, 0);
        expect(entries).to.have.length(params);
        const keys = [...TORCH[name].state, ...(name === 'rmsprop' ? ['momentumBuffer'] : [])].sort();
        for (const st of entries) {
          expect(Object.keys(st).sort()).to.deep.equal(keys);
          expect(st.step, 'one step per batch: 64 images in batches of 32').to.equal(2);
        }
      });
    }
  });

  describe('resuming', () => {
    let ck: string;
    before(async () => {
      const out = path.join(dir, 'adagrad-run');
      const r = await run([...TINY, '--epochs', '2', '--optimizer', 'adagrad', '--lr', '0.02', '--out', out]);
      expect(r.code, r.err).to.equal(0);
      ck = path.join(out, 'checkpoint.safetensors');
    });

    it('refuses a contradicting --optimizer or a --momentum the saved optimizer does not have, and accepts the saved name', async () => {
      let r = await run(['--resume', ck, '--optimizer', 'adadelta', '--out', fresh()]);
      expect(r.code).to.equal(2);
      expect(expectOneLine(r.err)).to.equal(`train-cifar: --optimizer "adadelta" differs from the checkpoint's "adagrad"; a resumed run keeps its configuration (start a new run to change it)`);
      r = await run(['--resume', ck, '--momentum', '0', '--out', fresh()]);
      expect(r.code).to.equal(2);
      expect(expectOneLine(r.err)).to.equal('train-cifar: --momentum applies to --optimizer sgd or rmsprop only, not adagrad (Adagrad has no momentum)');
      r = await run(['--resume', ck, '--optimizer', 'adagrad', '--lr', '0.02', '--out', fresh()]);
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.include('already finished its 2 epochs');
    });

    it('resumes an adam/adamw checkpoint of the previous version, which saved momentum 0.9, exactly as an uninterrupted run', async () => {
      // Before rmsprop & co., every config saved --momentum's 0.9, adam's too; now adam saves 0.
      for (const name of ['adam', 'adamw']) {
        const base = [...TINY, '--epochs', '2', '--optimizer', name, '--seed', '3'];
        const ref = fresh();
        let r = await run([...base, '--out', ref]);
        expect(r.code, r.err).to.equal(0);
        const out = fresh();
        r = await run([...base, '--out', out], 3);
        expect(r.code, r.err).to.equal(130);
        const file = path.join(out, 'checkpoint.safetensors');
        const loaded = loadCheckpoint(file);
        expect(loaded.state.config).to.include({ momentum: 0 });
        const tensors: Record<string, { shape: number[]; data: Float32Array | Float64Array }> = {};
        for (const [k, t] of loaded.tensors) tensors[k] = { shape: t.shape, data: t.data };
        saveCheckpoint(file, { tensors, state: { ...loaded.state, config: { ...(loaded.state.config as Record<string, unknown>), momentum: 0.9 } } });
        // A --momentum (whatever its value) still does not apply; the saved run's own options do.
        r = await run(['--resume', file, '--momentum', '0.9']);
        expect(r.code).to.equal(2);
        expect(expectOneLine(r.err)).to.equal(`train-cifar: --momentum applies to --optimizer sgd or rmsprop only, not ${name} (its betas are torch's 0.9, 0.999)`);
        r = await run(['--resume', file, '--optimizer', name, '--lr', '0.008']);
        expect(r.code, r.err).to.equal(0);
        expect(r.out).to.include(`${name} lr 0.008, weight decay 0.0005`);
        expect(r.out).to.not.include('momentum');
        const a = loadCheckpoint(path.join(out, 'checkpoint.safetensors'));
        const b = loadCheckpoint(path.join(ref, 'checkpoint.safetensors'));
        expect(a.tensors.size).to.equal(b.tensors.size);
        for (const [k, t] of b.tensors) expect(a.tensors.get(k)!.data, `${name} ${k}`).to.deep.equal(t.data);
        expect(a.state.config, 'the resumed run keeps the config it was saved with').to.include({ momentum: 0.9 });
      }
    });

    it('refuses a checkpoint whose saved optimizer is unknown, naming the field', async () => {
      const loaded = loadCheckpoint(ck);
      const tensors: Record<string, { shape: number[]; data: Float32Array | Float64Array }> = {};
      for (const [k, t] of loaded.tensors) tensors[k] = { shape: t.shape, data: t.data };
      const edited = path.join(dir, 'edited.safetensors');
      saveCheckpoint(edited, { tensors, state: { ...loaded.state, config: { ...(loaded.state.config as Record<string, unknown>), optimizer: 'lbfgs' } } });
      const r = await run(['--resume', edited, '--out', fresh()]);
      expect(r.code).to.equal(2);
      expect(expectOneLine(r.err)).to.equal(`train-cifar: --resume ${edited}: saved config optimizer must be one of sgd, adam, adamw, rmsprop, adagrad, nadam, radam, adamax, adadelta, got "lbfgs"`);
    });
  });
});
