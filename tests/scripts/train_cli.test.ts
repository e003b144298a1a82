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
    for (const choice of ['resnet18 | plain18', 'imagenet | cifar', 'sgd | adam | adamw | rmsprop | adagrad | nadam | radam | adamax | adadelta', 'none | step | cosine | onecycle', 'float32 | float64']) {
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
    ['unknown optimizer', ['--optimizer', 'sgdw'], ['--optimizer must be one of sgd, adam, adamw, rmsprop, adagrad, nadam, radam, adamax, adadelta, got "sgdw"']],
    ['unknown schedule', ['--schedule', 'linear'], ['--schedule must be one of none, step, cosine, onecycle, got "linear"']],
    ['unknown model', ['--model', 'vgg16'], ['--model must be one of resnet18, plain18, got "vgg16"']],
    ['unknown variant', ['--variant', 'tiny'], ['--variant must be one of imagenet, cifar, got "tiny"']],
    ['unknown dtype', ['--dtype', 'float16'], ['--dtype must be one of float32, float64, got "float16"']],
    ['switch with a value', ['--no-augment=yes'], ['--no-augment is a switch and takes no value']],
    ['momentum with adam', ['--optimizer', 'adam', '--momentum', '0.5'], ['--momentum applies to --optimizer sgd or rmsprop only, not adam']],
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

  it('checks --batch-size against the images a small --data holds, and a failed start leaves no empty --out', async () => {
    const small = path.join(dir, 'small-cifar');
    fs.mkdirSync(small);
    const record = (label: number): Uint8Array => {
      const r = new Uint8Array(3073);
      r[0] = label;
      return r;
    };
    const records = (n: number): Uint8Array => {
      const out = new Uint8Array(n * 3073);
      for (let i = 0; i < n; i++) out.set(record(i % 10), i * 3073);
      return out;
    };
    for (let f = 1; f <= 5; f++) fs.writeFileSync(path.join(small, `data_batch_${f}.bin`), records(4)); // 20 images
    fs.writeFileSync(path.join(small, 'test_batch.bin'), records(4));
    fs.writeFileSync(path.join(small, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
    const out = fresh();
    let r = await run(['--data', small, '--batch-size', '32', '--width', '2', '--epochs', '1', '--out', out]);
    expect(r.code, r.err).to.equal(2);
    expect(expectOneLine(r.err)).to.include('--batch-size 32 is larger than the 20 training images');
    expect(fs.existsSync(out), 'the --out this run made is removed again').to.equal(false);
    // A corrupt file: the same, naming the file.
    const bad = records(4);
    bad[3073] = 12; // the second record's label byte
    fs.writeFileSync(path.join(small, 'data_batch_3.bin'), bad);
    r = await run(['--data', small, '--batch-size', '8', '--width', '2', '--epochs', '1', '--out', out]);
    expect(r.code, r.err).to.equal(2);
    expect(expectOneLine(r.err)).to.include('data_batch_3.bin');
    expect(fs.existsSync(out)).to.equal(false);
    // An --out that existed before the run is kept, empty or not.
    fs.mkdirSync(out);
    r = await run(['--data', small, '--batch-size', '8', '--width', '2', '--epochs', '1', '--out', out]);
    expect(r.code, r.err).to.equal(2);
    expect(fs.existsSync(out)).to.equal(true);
  });

  it("says a missing data folder came from the resumed checkpoint, not from a --data the user never gave", async () => {
    const small = path.join(dir, 'moving-cifar');
    fs.mkdirSync(small);
    const records = new Uint8Array(4 * 3073);
    for (let i = 0; i < 4; i++) records[i * 3073] = i;
    for (let f = 1; f <= 5; f++) fs.writeFileSync(path.join(small, `data_batch_${f}.bin`), records);
    fs.writeFileSync(path.join(small, 'test_batch.bin'), records);
    fs.writeFileSync(path.join(small, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
    const out = fresh();
    let r = await run(['--data', small, '--batch-size', '8', '--width', '2', '--epochs', '1', '--out', out]);
    expect(r.code, r.err).to.equal(0);
    const moved = `${small}-moved`;
    fs.renameSync(small, moved);
    const ck = path.join(out, 'checkpoint.safetensors');
    r = await run(['--resume', ck]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.equal(`train-cifar: the checkpoint's data folder ${small}: no such directory (saved with the run; pass --data DIR if the data has moved)`);
    // Given --data, the message is about --data, as before.
    r = await run(['--resume', ck, '--data', small]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.equal(`train-cifar: --data ${small}: no such directory`);
    r = await run(['--resume', ck, '--data', moved]);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.include('already finished');
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

  const SMALL = ['--synthetic-train', '64', '--synthetic-test', '20', '--width', '2', '--epochs', '2', '--batch-size', '32', '--log-every', '100'];
  const snapshot = (d: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const f of fs.readdirSync(d).sort()) out[f] = fs.readFileSync(path.join(d, f)).toString('base64');
    return out;
  };

  it('refuses an --out holding any file a run writes, and names it', async () => {
    for (const f of ['model.safetensors', 'config.json', 'curves.svg', 'checkpoint.json']) {
      const out = fresh();
      fs.mkdirSync(out);
      fs.writeFileSync(path.join(out, f), 'the user\'s own file');
      const before = snapshot(out);
      const r = await run([...SMALL, '--out', out]);
      expect(r.code, `${f}: ${r.err}`).to.equal(2);
      const line = expectOneLine(r.err);
      expect(line).to.include(`--out ${out} already holds`).and.to.include(f);
      expect(r.out).to.equal('');
      expect(snapshot(out), f).to.deep.equal(before);
    }
  });

  it('accepts an --out that is empty or holds only unrelated files', async () => {
    const out = fresh();
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const r = await run([...SMALL, '--out', out]);
    expect(r.code, r.err).to.equal(0);
    expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf-8')).to.equal('mine');
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).to.equal(true);
    const empty = fresh();
    fs.mkdirSync(empty);
    const r2 = await run([...SMALL, '--out', empty]);
    expect(r2.code, r2.err).to.equal(0);
  });

  it('without --out, never shares runs/<timestamp> with another run started in the same second', async () => {
    // Two runs started together (a loop over seeds in a script) used to pick the same directory:
    // the second found it empty, because the first was still loading its data, and both wrote there.
    const home = fresh();
    const p2 = (n: number): string => String(n).padStart(2, '0');
    const stamp = (d: Date): string => `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}_${p2(d.getHours())}-${p2(d.getMinutes())}-${p2(d.getSeconds())}`;
    // Another run has claimed the directory of this second and of the next minute, and has written nothing yet.
    const taken = new Set<string>();
    const now = Date.now();
    for (let s = -1; s <= 60; s++) taken.add(stamp(new Date(now + 1000 * s)));
    for (const t of taken) fs.mkdirSync(path.join(home, 'runs', t), { recursive: true });
    const cwd = process.cwd();
    process.chdir(home);
    let r: { code: number; out: string; err: string };
    try {
      r = await run(SMALL);
    } finally {
      process.chdir(cwd);
    }
    expect(r.code, r.err).to.equal(0);
    for (const t of taken) expect(fs.readdirSync(path.join(home, 'runs', t)), t).to.deep.equal([]);
    const made = fs.readdirSync(path.join(home, 'runs')).filter((n) => !taken.has(n));
    expect(made).to.have.length(1);
    expect(made[0]).to.match(/^\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-2$/);
    expect(taken.has(made[0].slice(0, -2))).to.equal(true);
    expect(r.out).to.include(`writing to ${path.join('runs', made[0])}\n`);
    expect(fs.existsSync(path.join(home, 'runs', made[0], 'model.safetensors'))).to.equal(true);
  });

  it('refuses to resume another checkpoint into a directory that holds a run, keeping every file', async () => {
    const r0 = fresh();
    fs.cpSync(path.join(dir, 'run'), r0, { recursive: true });
    const old = path.join(r0, 'old.safetensors');
    fs.copyFileSync(checkpoint, old);
    const before = snapshot(r0);
    let r = await run(['--resume', old]);
    expect(r.code, r.err).to.equal(2);
    let line = expectOneLine(r.err);
    expect(line).to.include(`--resume ${old}`).and.to.include('--out NEWDIR').and.to.include('metrics.jsonl');
    expect(r.out).to.equal('');
    expect(snapshot(r0)).to.deep.equal(before);
    // The same with --out naming the run directory, and from a checkpoint elsewhere.
    r = await run(['--resume', old, '--out', r0]);
    expect(r.code, r.err).to.equal(2);
    expect(expectOneLine(r.err)).to.include('--out NEWDIR');
    r = await run(['--resume', checkpoint, '--out', r0]);
    expect(r.code, r.err).to.equal(2);
    line = expectOneLine(r.err);
    expect(line).to.include(`--out ${r0} already holds`).and.to.include('--out NEWDIR');
    expect(snapshot(r0)).to.deep.equal(before);
    // Into a new directory it works; so does the directory's own checkpoint, by any spelling.
    const elsewhere = fresh();
    r = await run(['--resume', old, '--out', elsewhere]);
    expect(r.code, r.err).to.equal(0);
    r = await run(['--resume', path.join(r0, '.', 'checkpoint.safetensors')]);
    expect(r.code, r.err).to.equal(0);
  });

  it('resuming a run that already trained every epoch says so and writes nothing', async () => {
    const runDir = path.join(dir, 'run');
    const before = snapshot(runDir);
    const r = await run(['--resume', checkpoint]);
    expect(r.code, r.err).to.equal(0);
    expect(r.err).to.equal('');
    expect(r.out).to.match(/already finished its 2 epochs \(test accuracy \d+\.\d\d%\); nothing to train/);
    expect(r.out).to.include(`npm run evaluate -- --checkpoint ${checkpoint}`);
    expect(snapshot(runDir)).to.deep.equal(before);
    const elsewhere = fresh();
    const r2 = await run(['--resume', checkpoint, '--out', elsewhere]);
    expect(r2.code, r2.err).to.equal(0);
    expect(fs.existsSync(elsewhere)).to.equal(false);
  });

  it('checks dependent options against the checkpoint being resumed, not the defaults', async () => {
    const sgd = fresh();
    let r = await run([...SMALL, '--optimizer', 'sgd', '--lr', '0.05', '--momentum', '0.8', '--nesterov', '--schedule', 'step', '--gamma', '0.5',
      '--step-epochs', '1', '--out', sgd]);
    expect(r.code, r.err).to.equal(0);
    const ck = path.join(sgd, 'checkpoint.safetensors');
    r = await run(['--resume', ck, '--gamma', '0.5', '--step-epochs', '1', '--momentum', '0.8', '--nesterov', '--out', fresh()]);
    expect(r.code, r.err).to.equal(0);
    r = await run(['--resume', ck, '--gamma', '0.25', '--out', fresh()]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include("--gamma 0.25 differs from the checkpoint's 0.5");
    r = await run(['--resume', ck, '--momentum', '0.5', '--out', fresh()]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include("--momentum 0.5 differs from the checkpoint's 0.8");
    // The before() run uses adam and onecycle: these still do not apply to it.
    r = await run(['--resume', checkpoint, '--momentum', '0.9', '--out', fresh()]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include('--momentum applies to --optimizer sgd or rmsprop only, not adam');
    r = await run(['--resume', checkpoint, '--gamma', '0.1', '--out', fresh()]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include('--gamma applies to --schedule step only, not onecycle');
    // ... but when the option they depend on is typed too, with another value, that is what differs:
    // the user asked for sgd (which has --momentum) or step (which has --gamma), not for adam/onecycle.
    r = await run(['--resume', checkpoint, '--optimizer', 'sgd', '--momentum', '0.9', '--out', fresh()]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.equal(`train-cifar: --optimizer "sgd" differs from the checkpoint's "adam"; a resumed run keeps its configuration (start a new run to change it)`);
    r = await run(['--resume', checkpoint, '--schedule', 'step', '--gamma', '0.5', '--step-epochs', '1', '--out', fresh()]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.equal(`train-cifar: --schedule "step" differs from the checkpoint's "onecycle"; a resumed run keeps its configuration (start a new run to change it)`);
    r = await run(['--resume', ck, '--optimizer', 'adam', '--nesterov', '--out', fresh()]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.equal(`train-cifar: --optimizer "adam" differs from the checkpoint's "sgd"; a resumed run keeps its configuration (start a new run to change it)`);
  });

  it('says a --data that is a file is not a directory', async () => {
    const file = path.join(dir, 'README.md');
    fs.writeFileSync(file, '# not data');
    const r = await run(['--data', file, '--out', fresh()]);
    expect(r.code).to.equal(2);
    expect(expectOneLine(r.err)).to.include(`--data ${file}: is a file, not a directory`);
  });

  it('pluralises the start-up line and quotes a resume hint path with spaces', async () => {
    const out = path.join(dir, 'my run');
    const stdout = new Capture();
    const stderr = new Capture();
    const stop: { requested: string | null } = { requested: null };
    const code = await main(['--synthetic-train', '32', '--synthetic-test', '20', '--width', '2', '--epochs', '2', '--batch-size', '32', '--out', out], {
      stdout, stderr, stop, onStep: () => { stop.requested = 'SIGINT'; },
    });
    expect(code, stderr.text).to.equal(130);
    expect(stdout.text).to.include('2 epochs x 1 step of 32;');
    expect(expectOneLine(stderr.text)).to.include(`continue with --resume '${path.join(out, 'checkpoint.safetensors')}'`);
    const r = await run(['--synthetic-train', '32', '--synthetic-test', '20', '--width', '2', '--epochs', '1', '--batch-size', '16', '--out', fresh()]);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.include('1 epoch x 2 steps of 16;');
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
