/**
 * train-cifar's promises about interrupted runs, checked bit for bit:
 *  - resuming from an end-of-epoch checkpoint, from a mid-epoch interrupt, and from an interrupt
 *    after an epoch's last step (before its evaluation) ends with exactly the weights, optimizer
 *    state and metrics of an uninterrupted run with the same seed (AdamW; mid-epoch also RMSprop
 *    and NAdam);
 *  - SIGTERM to the real process stops it with exit 130 and a checkpoint that resumes exactly;
 *  - a NaN loss stops it with a message naming epoch and step, exit 3, and the last good
 *    checkpoint untouched.
 * In-process runs call main() (as the CLI does, with a stop flag the test raises at a chosen step).
 */
import { expect } from 'chai';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../scripts/train-cifar';
import { loadCheckpoint, LoadedCheckpoint } from '../../lib/io/checkpoint';
import { getNumThreads, setNumThreads } from '../../lib/platform/threads';
import { Capture } from '../support/capture';

const ROOT = path.join(__dirname, '..', '..');
const SCRIPT = path.join(ROOT, 'scripts', 'train-cifar.ts');
const THREADS = '2';

interface RunResult { code: number; out: string; err: string }

/** main() in-process; `stopAt` raises the stop flag after that global step, as SIGINT would. */
async function run(args: string[], hooks: { stopAt?: number; onStep?: (step: number) => void } = {}): Promise<RunResult> {
  const stdout = new Capture();
  const stderr = new Capture();
  const stop: { requested: string | null } = { requested: null };
  const code = await main([...args, '--threads', THREADS], {
    stdout, stderr, stop,
    onStep: (step) => {
      hooks.onStep?.(step);
      if (step === hooks.stopAt) stop.requested = 'SIGINT';
    },
  });
  return { code, out: stdout.text, err: stderr.text };
}

const TIMING = new Set(['time', 'elapsed', 'imagesPerSec', 'epochSeconds', 'epochTrainSeconds', 'windowSeconds', 'savedAt']);

/** A copy of a JSON value without wall-clock fields, which legitimately differ between runs. */
function withoutTiming(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutTiming);
  if (v instanceof Float32Array || v instanceof Float64Array) return v;
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!TIMING.has(k)) out[k] = withoutTiming(x);
    return out;
  }
  return v;
}

function metrics(dir: string): unknown[] {
  return fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf-8').trim().split('\n').map((l) => withoutTiming(JSON.parse(l)));
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function expectSameTensors(a: LoadedCheckpoint, b: LoadedCheckpoint, prefix = ''): void {
  const names = [...a.tensors.keys()].filter((k) => k.startsWith(prefix)).sort();
  expect(names).to.deep.equal([...b.tensors.keys()].filter((k) => k.startsWith(prefix)).sort());
  expect(names.length).to.be.greaterThan(0);
  for (const k of names) expect(sameBits(a.tensors.get(k)!.data, b.tensors.get(k)!.data), k).to.equal(true);
}

/** The end of run `dir` equals the end of the reference run `ref`: weights, optimizer, schedule, generators, metrics. */
function expectSameRun(dir: string, ref: string): void {
  expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(fs.readFileSync(path.join(ref, 'model.safetensors'))), 'model.safetensors').to.equal(true);
  const a = loadCheckpoint(path.join(dir, 'checkpoint.safetensors'));
  const b = loadCheckpoint(path.join(ref, 'checkpoint.safetensors'));
  expectSameTensors(a, b);
  expect(withoutTiming(a.state)).to.deep.equal(withoutTiming(b.state));
  expect(metrics(dir)).to.deep.equal(metrics(ref));
}

describe('scripts/train-cifar: resume and interruption', function () {
  let tmp: string;
  let threadsBefore: number;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-train-'));
    threadsBefore = getNumThreads();
  });
  after(() => {
    setNumThreads(threadsBefore);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('in-process (cifar stem, width 4, AdamW, warm-up + cosine, label smoothing, augmentation)', () => {
    // 128 images in batches of 32: 4 steps an epoch, 12 in all. Two warm-up epochs, so the end-of-epoch-1
    // checkpoint is taken inside the warm-up (SequentialLR before its milestone) and the mid-epoch-2 one
    // too; the warm-up ends at step 8.
    const CONFIG = ['--variant', 'cifar', '--width', '4', '--synthetic-train', '128', '--synthetic-test', '64', '--batch-size', '32',
      '--eval-batch-size', '64', '--epochs', '3', '--optimizer', 'adamw', '--lr', '0.003', '--schedule', 'cosine', '--warmup-epochs', '2',
      '--label-smoothing', '0.1', '--seed', '11', '--log-every', '3'];
    let ref: string;
    let epoch1: string;

    before(async () => {
      ref = path.join(tmp, 'ref');
      epoch1 = path.join(tmp, 'epoch1');
      fs.mkdirSync(epoch1);
      const r = await run([...CONFIG, '--out', ref], {
        onStep: (step) => {
          // Before step 5 writes anything, the run's checkpoint is the one from the end of epoch 1.
          if (step === 5) {
            for (const f of ['checkpoint.safetensors', 'metrics.jsonl']) fs.copyFileSync(path.join(ref, f), path.join(epoch1, f));
          }
        },
      });
      expect(r.code, r.err).to.equal(0);
    });

    it('the uninterrupted run learned something and logged every epoch', () => {
      const recs = metrics(ref) as { type: string; epoch: number }[];
      expect(recs.filter((r) => r.type === 'epoch').map((r) => r.epoch)).to.deep.equal([1, 2, 3]);
      const start = loadCheckpoint(path.join(epoch1, 'checkpoint.safetensors'));
      const end = loadCheckpoint(path.join(ref, 'checkpoint.safetensors'));
      expect(sameBits(start.tensors.get('model.conv1.weight')!.data, end.tensors.get('model.conv1.weight')!.data)).to.equal(false);
      expect((start.state.loop as { epoch: number }).epoch).to.equal(1);
    });

    it('resuming from the end-of-epoch-1 checkpoint (into a new directory) reproduces the run bit for bit', async () => {
      const out = path.join(tmp, 'from-epoch1');
      const r = await run(['--resume', path.join(epoch1, 'checkpoint.safetensors'), '--out', out]);
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.include('resuming').and.to.include('at epoch 2, step 0/4');
      expectSameRun(out, ref);
    });

    it('an interrupt in the middle of epoch 2 exits 130 with a checkpoint that resumes bit for bit', async () => {
      const out = path.join(tmp, 'mid');
      const first = await run([...CONFIG, '--out', out], { stopAt: 6 });
      expect(first.code).to.equal(130);
      expect(first.err).to.equal(`train-cifar: stopped by SIGINT at epoch 2, step 2/4 (global step 6); checkpoint written to ${path.join(out, 'checkpoint.safetensors')}; ` +
        `continue with --resume ${path.join(out, 'checkpoint.safetensors')}\n`);
      const ck = loadCheckpoint(path.join(out, 'checkpoint.safetensors'));
      expect(ck.state.reason).to.equal('interrupt');
      expect(ck.state.loop).to.deep.include({ epoch: 1, stepInEpoch: 2, globalStep: 6 });
      expect(fs.existsSync(path.join(out, 'model.safetensors'))).to.equal(false);

      const second = await run(['--resume', path.join(out, 'checkpoint.safetensors')]);
      expect(second.code, second.err).to.equal(0);
      expectSameRun(out, ref);
    });

    it('an interrupt after the last step of an epoch, before its evaluation, resumes bit for bit', async () => {
      const out = path.join(tmp, 'edge');
      const first = await run([...CONFIG, '--out', out], { stopAt: 8 });
      expect(first.code).to.equal(130);
      const ck = loadCheckpoint(path.join(out, 'checkpoint.safetensors'));
      expect(ck.state.loop).to.deep.include({ epoch: 1, stepInEpoch: 4, globalStep: 8 });
      const second = await run(['--resume', path.join(out, 'checkpoint.safetensors')]);
      expect(second.code, second.err).to.equal(0);
      expectSameRun(out, ref);
    });
  });

  // The optimizers added after sgd/adam/adamw: RMSprop's momentum buffer and NAdam's muProduct (a
  // number in the JSON state, not a tensor) must come back exactly, with a step and a onecycle schedule.
  const OTHERS: [string, string[]][] = [
    ['RMSprop with momentum, step schedule', ['--optimizer', 'rmsprop', '--momentum', '0.9', '--lr', '0.005', '--schedule', 'step', '--step-epochs', '1', '--gamma', '0.5']],
    ['NAdam, one-cycle', ['--optimizer', 'nadam']],
  ];
  for (const [what, opts] of OTHERS) {
    describe(`in-process (imagenet stem, width 2, ${what})`, () => {
      // 128 images in batches of 32: 4 steps an epoch, 8 in all.
      const CONFIG = ['--width', '2', '--synthetic-train', '128', '--synthetic-test', '32', '--batch-size', '32', '--epochs', '2',
        '--seed', '5', '--log-every', '3', ...opts];
      const name = opts[1];

      it('an interrupt in the middle of epoch 2 resumes bit for bit to the uninterrupted run', async () => {
        const ref = path.join(tmp, `${name}-ref`);
        const r = await run([...CONFIG, '--out', ref]);
        expect(r.code, r.err).to.equal(0);
        const out = path.join(tmp, `${name}-mid`);
        const first = await run([...CONFIG, '--out', out], { stopAt: 6 });
        expect(first.code, first.err).to.equal(130);
        const ck = loadCheckpoint(path.join(out, 'checkpoint.safetensors'));
        expect(ck.state.loop).to.deep.include({ epoch: 1, stepInEpoch: 2, globalStep: 6 });
        expect(ck.state.config).to.deep.include({ optimizer: name });
        const second = await run(['--resume', path.join(out, 'checkpoint.safetensors')]);
        expect(second.code, second.err).to.equal(0);
        expect(second.out).to.include('at epoch 2, step 2/4');
        expectSameRun(out, ref);
      });
    });
  }

  describe('as a process (imagenet stem, width 4, SGD with Nesterov momentum, one-cycle)', () => {
    // 256 images in batches of 32: 8 steps an epoch, 24 in all.
    const CONFIG = ['--width', '4', '--synthetic-train', '256', '--synthetic-test', '64', '--batch-size', '32', '--epochs', '3',
      '--optimizer', 'sgd', '--lr', '0.05', '--nesterov', '--seed', '3', '--log-every', '1'];
    let ref: string;
    let epoch1: LoadedCheckpoint;

    before(async () => {
      ref = path.join(tmp, 'proc-ref');
      let snapshot: Buffer | null = null;
      const r = await run([...CONFIG, '--out', ref], {
        onStep: (step) => {
          if (step === 9) snapshot = fs.readFileSync(path.join(ref, 'checkpoint.safetensors'));
        },
      });
      expect(r.code, r.err).to.equal(0);
      const file = path.join(tmp, 'proc-epoch1.safetensors');
      fs.writeFileSync(file, snapshot!);
      epoch1 = loadCheckpoint(file);
    });

    function spawnTrain(args: string[], onLine?: (line: string, kill: (sig: NodeJS.Signals) => void) => void): Promise<RunResult> {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', SCRIPT, ...args, '--threads', THREADS], { cwd: ROOT });
        let out = '';
        let err = '';
        let pending = '';
        child.stdout.setEncoding('utf-8');
        child.stderr.setEncoding('utf-8');
        child.stdout.on('data', (chunk: string) => {
          out += chunk;
          pending += chunk;
          const lines = pending.split('\n');
          pending = lines.pop()!;
          for (const l of lines) onLine?.(l, (sig) => child.kill(sig));
        });
        child.stderr.on('data', (chunk: string) => {
          err += chunk;
        });
        child.on('error', reject);
        child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
      });
    }

    it('SIGTERM stops after the current step with exit 130, and the checkpoint resumes to the uninterrupted result', async () => {
      const out = path.join(tmp, 'sigterm');
      let sent = false;
      const r = await spawnTrain([...CONFIG, '--out', out], (line, kill) => {
        // Progress lines go to stdout when it is not a terminal; signal once real steps were made.
        if (!sent && /^epoch 1\/3 {2}step 3\/8/.test(line)) {
          sent = true;
          kill('SIGTERM');
        }
      });
      expect(sent, r.out).to.equal(true);
      expect(r.code, r.err).to.equal(130);
      expect(r.err).to.include('SIGTERM received: stopping after the current step');
      expect(r.err).to.match(/stopped by SIGTERM (at epoch \d, step \d\/8|after epoch \d) \(global step \d+\); checkpoint written to /);
      const ck = loadCheckpoint(path.join(out, 'checkpoint.safetensors'));
      const loop = ck.state.loop as { globalStep: number };
      expect(loop.globalStep).to.be.within(3, 23);

      const resumed = await run(['--resume', path.join(out, 'checkpoint.safetensors')]);
      expect(resumed.code, resumed.err).to.equal(0);
      expectSameRun(out, ref);
    });

    it('a NaN loss stops the run naming epoch and step, exits 3 and keeps the last good checkpoint', async () => {
      const out = path.join(tmp, 'nan');
      const r = await spawnTrain([...CONFIG, '--out', out, '--debug-nan-step', '11']);
      expect(r.code, r.err).to.equal(3);
      expect(r.err).to.equal(`train-cifar: loss is NaN at epoch 2, step 3 (global step 11); stopping: the last good checkpoint ${path.join(out, 'checkpoint.safetensors')} ` +
        '(1 epoch done, global step 8) is kept. Try a lower --lr or --clip-grad-norm.\n');
      const kept = loadCheckpoint(path.join(out, 'checkpoint.safetensors'));
      expect(kept.state.reason).to.equal('epoch');
      expectSameTensors(kept, epoch1);
      expect(withoutTiming(kept.state)).to.deep.equal(withoutTiming(epoch1.state));
      expect(fs.existsSync(path.join(out, 'model.safetensors'))).to.equal(false);
    });
  });
});
