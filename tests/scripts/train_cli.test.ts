/**
 * train-cifar's command line: --help, and every kind of bad input rejected with exactly one line
 * on stderr and exit code 2 before any work starts. Most cases call main() in-process (the same
 * code the process runs, minus ts-node start-up); two spawn the real CLI to check the wiring.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../scripts/train-cifar';
import { writeSafetensors } from '../../lib/io/safetensors';
import { loadCheckpoint, saveCheckpoint } from '../../lib/io/checkpoint';
import { Capture } from '../support/capture';

const ROOT = path.join(__dirname, '..', '..');
const SCRIPT = path.join(ROOT, 'scripts', 'train-cifar.ts');

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(args, { stdout, stderr, stop: { requested: null } });
  return { code, out: stdout.text, err: stderr.text };
}

function expectOneLine(err: string): string {
  expect(err.endsWith('\n'), JSON.stringify(err)).to.equal(true);
  expect(err.slice(0, -1), JSON.stringify(err)).to.not.include('\n');
  expect(err).to.match(/^train-cifar: /);
  return err.slice(0, -1);
}

describe('scripts/train-cifar command line', function () {
  let dir: string;
  let checkpoint: string;
  const fresh = (): string => path.join(dir, `out-${Math.random().toString(36).slice(2)}`);

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-cli-'));
    // A real checkpoint to resume from: the smallest run there is (2 steps).
    const r = await run(['--synthetic-train', '64', '--synthetic-test', '20', '--width', '2', '--epochs', '2', '--batch-size', '32', '--lr', '0.05',
      '--out', path.join(dir, 'run'), '--log-every', '100']);
    expect(r.code, r.err).to.equal(0);
    checkpoint = path.join(dir, 'run', 'checkpoint.safetensors');
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('--help lists every option with its default and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).to.equal(0);
    expect(r.err).to.equal('');
    const flags = ['data', 'synthetic-train', 'synthetic-test', 'limit-train', 'limit-test', 'model', 'variant', 'width', 'dtype', 'epochs',
      'batch-size', 'eval-batch-size', 'optimizer', 'lr', 'momentum', 'weight-decay', 'schedule', 'step-epochs', 'gamma', 'warmup-epochs',
      'label-smoothing', 'clip-grad-norm', 'seed', 'out', 'resume', 'threads', 'log-every'];
    for (const f of flags) {
      const entry = new RegExp(`^  --${f} [A-Z]+ [^\\n]*(\\n {28}[^\\n]*)*\\[default: [^\\]]+\\]`, 'm');
      expect(r.out, f).to.match(entry);
    }
    for (const sw of ['no-augment', 'nesterov', 'help']) expect(r.out).to.match(new RegExp(`^  --${sw} `, 'm'));
    for (const choice of ['resnet18 | plain18', 'imagenet | cifar', 'sgd | adam | adamw', 'none | step | cosine | onecycle', 'float32 | float64']) {
      expect(r.out).to.include(choice);
    }
    expect(r.out).to.not.include('debug-nan-step');
  });

  const cases: [string, string[], string[]][] = [
    ['unknown option', ['--fast'], ['unknown option --fast']],
    ['missing value', ['--lr'], ['--lr needs a value']],
    ['value that starts with a dash', ['--lr', '-1'], ['--lr needs a value', '--lr=VALUE']],
    ['positional argument', ['extra'], ['unexpected argument "extra"']],
    ['repeated option', ['--lr', '0.1', '--lr', '0.2'], ['--lr is given more than once']],
    ['not a number', ['--lr', 'fast'], ['--lr must be a number, got "fast"']],
    ['not an integer', ['--width', '1.5'], ['--width must be an integer, got "1.5"']],
    ['zero learning rate', ['--lr', '0'], ['--lr must be > 0', 'got 0']],
    ['zero epochs', ['--epochs', '0'], ['--epochs must be >= 1', 'got 0']],
    ['momentum of 1', ['--momentum', '1'], ['--momentum must be >= 0 and < 1, got 1']],
    ['negative weight decay', ['--weight-decay=-0.1'], ['--weight-decay must be >= 0', 'got -0.1']],
    ['label smoothing of 1', ['--label-smoothing', '1'], ['--label-smoothing must be >= 0 and < 1, got 1']],
    ['zero threads', ['--threads', '0'], ['--threads must be >= 1', 'got 0']],
    ['unknown optimizer', ['--optimizer', 'rmsprop'], ['--optimizer must be one of sgd, adam, adamw, got "rmsprop"']],
    ['unknown schedule', ['--schedule', 'linear'], ['--schedule must be one of none, step, cosine, onecycle, got "linear"']],
    ['unknown model', ['--model', 'vgg16'], ['--model must be one of resnet18, plain18, got "vgg16"']],
    ['unknown variant', ['--variant', 'tiny'], ['--variant must be one of imagenet, cifar, got "tiny"']],
    ['unknown dtype', ['--dtype', 'float16'], ['--dtype must be one of float32, float64, got "float16"']],
    ['switch with a value', ['--no-augment=yes'], ['--no-augment is a switch and takes no value']],
    ['momentum with adam', ['--optimizer', 'adam', '--momentum', '0.5'], ['--momentum applies to --optimizer sgd only, not adam']],
    ['warm-up as long as training', ['--epochs', '3', '--warmup-epochs', '3'], ['--warmup-epochs 3 must be less than --epochs 3']],
    ['gamma without the step schedule', ['--gamma', '0.5'], ['--gamma applies to --schedule step only']],
    ['batch larger than the data', ['--synthetic-train', '50', '--batch-size', '64'], ['--batch-size 64 is larger than the 50 training images']],
    ['synthetic size with --data', ['--data', '.', '--synthetic-train', '100'], ['--synthetic-train applies to the synthetic set only']],
  ];
  for (const [what, args, parts] of cases) {
    it(`rejects ${what} with one line and exit 2`, async () => {
      const out = fresh();
      const r = await run([...args, '--out', out]);
      expect(r.code, r.err).to.equal(2);
      const line = expectOneLine(r.err);
      for (const p of parts) expect(line).to.include(p);
      expect(r.out).to.equal('');
      expect(fs.existsSync(out), 'no work started').to.equal(false);
    });
  }

  it('rejects a --data directory that does not exist or lacks CIFAR-10 files', async () => {
    const missing = path.join(dir, 'no-such-dir');
    let r = await run(['--data', missing, '--out', fresh()]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include(`--data ${missing}: no such directory`);
    const partial = path.join(dir, 'partial-cifar');
    fs.mkdirSync(partial);
    fs.writeFileSync(path.join(partial, 'data_batch_1.bin'), '');
    r = await run(['--data', partial, '--out', fresh()]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include(`--data ${partial}: missing data_batch_2.bin`);
  });

  it('rejects an unusable --out', async () => {
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'x');
    let r = await run(['--out', file]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include(`--out ${file}: exists and is not a directory`);
    r = await run(['--out', path.join(dir, 'run')]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include(`--out ${path.join(dir, 'run')} already holds a run`).and.to.include('--resume');
    r = await run(['--out', path.join(file, 'sub')]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include(`--out ${path.join(file, 'sub')}: cannot create or write the directory`);
  });

  it('rejects a --resume file that is missing, a directory, not safetensors or not a checkpoint', async () => {
    const missing = path.join(dir, 'nope.safetensors');
    let r = await run(['--resume', missing]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include(`--resume ${missing}: no such file`);

    r = await run(['--resume', path.join(dir, 'run')]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include(`--resume ${path.join(dir, 'run')}: is a directory`);

    const junk = path.join(dir, 'junk.safetensors');
    fs.writeFileSync(junk, 'this is not a safetensors file at all');
    r = await run(['--resume', junk]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include(`--resume ${junk}: `);

    const weights = path.join(dir, 'weights.safetensors');
    writeSafetensors(weights, { w: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
    r = await run(['--resume', weights]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include(`--resume ${weights}: `).and.to.include('not a tsgrad checkpoint');
  });

  it('rejects a checkpoint whose saved config is out of range, naming the field', async () => {
    const ck = loadCheckpoint(checkpoint);
    const tensors: Record<string, { shape: number[]; data: Float32Array | Float64Array }> = {};
    for (const [k, t] of ck.tensors) tensors[k] = { shape: t.shape, data: t.data };
    const edited = path.join(dir, 'edited.safetensors');
    saveCheckpoint(edited, { tensors, state: { ...ck.state, config: { ...(ck.state.config as Record<string, unknown>), width: 0 } } });
    const r = await run(['--resume', edited]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.equal(`train-cifar: --resume ${edited}: saved config width must be >= 1 and <= 512, got 0`);
  });

  it('refuses options that contradict the checkpoint being resumed', async () => {
    let r = await run(['--resume', checkpoint, '--lr', '0.3']);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include("--lr 0.3 differs from the checkpoint's 0.05");
    r = await run(['--resume', checkpoint, '--epochs', '5']);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include("--epochs 5 differs from the checkpoint's 2");
  });

  describe('as a process', function () {
    it('prints --help and exits 0', () => {
      const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', SCRIPT, '--help'], { cwd: ROOT, encoding: 'utf-8' });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.include('--batch-size N');
    });

    it('exits 2 with one line on stderr for a bad value', () => {
      const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', SCRIPT, '--epochs', 'many'], { cwd: ROOT, encoding: 'utf-8' });
      expect(r.status).to.equal(2);
      expect(expectOneLine(r.stderr)).to.equal('train-cifar: --epochs must be an integer, got "many"');
      expect(r.stdout).to.equal('');
    });

    it('exits 2 naming --out when the directory cannot be made, even under /proc', function () {
      if (!fs.existsSync('/proc/self')) {
        this.skip(); // not Linux: no /proc to refuse the mkdir
      }
      // SIGKILL after a minute: the script handles SIGTERM itself, and Node's recursive mkdir used to
      // spin here forever.
      const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', SCRIPT, '--out', '/proc/tsgrad-nope'], {
        cwd: ROOT, encoding: 'utf-8', timeout: 60_000, killSignal: 'SIGKILL',
      });
      expect(r.signal, 'killed by the time limit').to.equal(null);
      expect(r.status).to.equal(2);
      expect(expectOneLine(r.stderr)).to.include('train-cifar: --out /proc/tsgrad-nope: cannot create or write the directory');
    });
  });
});
