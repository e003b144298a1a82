/**
 * scripts/evaluate.ts on a checkpoint from a short training run: its numbers must agree with the
 * evaluation the training loop logged for the same weights and split, and its confusion matrix
 * with the labels of the split (counted here independently).
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main as evaluate, EvaluationReport } from '../../scripts/evaluate';
import { main as train } from '../../scripts/train-cifar';
import { makeSyntheticDataset, SYNTHETIC_CLASS_NAMES } from '../../lib/data/synthetic';
import { loadCheckpoint, saveCheckpoint } from '../../lib/io/checkpoint';
import { writeSafetensors } from '../../lib/io/safetensors';
import { Capture } from '../support/capture';

const ROOT = path.join(__dirname, '..', '..');

async function runEvaluate(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await evaluate(args, { stdout, stderr });
  return { code, out: stdout.text, err: stderr.text };
}

describe('scripts/evaluate', function () {
  let dir: string;
  let checkpoint: string;
  let lastEpoch: { testLoss: number; testAccuracy: number };
  const SEED = 4;
  const TEST = 150;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-eval-'));
    const out = path.join(dir, 'run');
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await train(['--width', '4', '--synthetic-train', '320', '--synthetic-test', String(TEST), '--batch-size', '32',
      '--eval-batch-size', '64', '--epochs', '2', '--optimizer', 'adam', '--lr', '0.004', '--seed', String(SEED), '--out', out, '--log-every', '100'],
    { stdout, stderr, stop: { requested: null } });
    expect(code, stderr.text).to.equal(0);
    checkpoint = path.join(out, 'checkpoint.safetensors');
    const records = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf-8').trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    lastEpoch = records.filter((r) => r.type === 'epoch').pop() as unknown as { testLoss: number; testAccuracy: number };
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reproduces the loss and accuracy the training run logged for the same weights and split', async () => {
    const json = path.join(dir, 'report.json');
    const r = await runEvaluate(['--checkpoint', checkpoint, '--json', json]);
    expect(r.code, r.err).to.equal(0);
    expect(r.err).to.equal('');
    const report = JSON.parse(fs.readFileSync(json, 'utf-8')) as EvaluationReport;
    expect(report.images).to.equal(TEST);
    expect(report.accuracy).to.equal(lastEpoch.testAccuracy);
    expect(report.loss).to.equal(lastEpoch.testLoss);
    expect(r.out).to.include(`test loss ${lastEpoch.testLoss.toFixed(4)}  accuracy ${(100 * lastEpoch.testAccuracy).toFixed(2)}%`);
  });

  it('prints per-class accuracy and a confusion matrix consistent with the split\'s labels', async () => {
    const json = path.join(dir, 'report2.json');
    const r = await runEvaluate(['--checkpoint', checkpoint, '--json', json]);
    expect(r.code, r.err).to.equal(0);
    const report = JSON.parse(fs.readFileSync(json, 'utf-8')) as EvaluationReport;
    const { test } = makeSyntheticDataset({ seed: SEED, trainSize: 0, testSize: TEST });
    const perClass = new Array<number>(10).fill(0);
    for (const l of test.labels) perClass[l]++;
    expect(report.classNames).to.deep.equal(SYNTHETIC_CLASS_NAMES);
    expect(report.confusion.map((row) => row.reduce((a, b) => a + b, 0))).to.deep.equal(perClass);
    const correct = report.confusion.reduce((s, row, t) => s + row[t], 0);
    expect(correct / TEST).to.equal(report.accuracy);
    report.perClassAccuracy.forEach((a, t) => expect(a).to.equal(report.confusion[t][t] / perClass[t]));

    const lines = r.out.split('\n');
    const perClassStart = lines.indexOf('per-class accuracy:');
    const confusionStart = lines.indexOf('confusion matrix (rows: true class, columns: predicted class):');
    expect(perClassStart).to.be.greaterThan(0);
    expect(confusionStart).to.be.greaterThan(perClassStart);
    SYNTHETIC_CLASS_NAMES.forEach((name, t) => {
      const row = lines.slice(perClassStart).find((l) => l.startsWith(`${t} ${name} `))!;
      const cells = row.slice(`${t} ${name}`.length).trim().split(/\s+/);
      expect(cells.slice(0, 2).map(Number), name).to.deep.equal([perClass[t], report.confusion[t][t]]);
      const mrow = lines.slice(confusionStart).find((l) => l.startsWith(`${t} ${name} `))!;
      expect(mrow.slice(`${t} ${name}`.length).trim().split(/\s+/).map(Number), name).to.deep.equal(report.confusion[t]);
    });
  });

  it('evaluates the training split with --split train and --limit', async () => {
    const json = path.join(dir, 'train.json');
    const r = await runEvaluate(['--checkpoint', checkpoint, '--split', 'train', '--limit', '100', '--json', json]);
    expect(r.code, r.err).to.equal(0);
    const report = JSON.parse(fs.readFileSync(json, 'utf-8')) as EvaluationReport;
    expect(report.split).to.equal('train');
    expect(report.images).to.equal(100);
    expect(r.out).to.include('train split, 100 images');
  });

  it('rejects bad input with one line and exit 2', async () => {
    const plain = path.join(dir, 'plain.safetensors');
    writeSafetensors(plain, { w: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
    const cases: [string[], string][] = [
      [[], 'evaluate: --checkpoint FILE is required'],
      [['--checkpoint', path.join(dir, 'missing.safetensors')], `evaluate: --checkpoint ${path.join(dir, 'missing.safetensors')}: no such file`],
      [['--checkpoint', plain], `evaluate: --checkpoint ${plain}: `],
      [['--checkpoint', checkpoint, '--split', 'val'], 'evaluate: --split must be test or train, got "val"'],
      [['--checkpoint', checkpoint, '--limit', '0'], 'evaluate: --limit must be between 1 and 100000, got 0'],
      [['--checkpoint', checkpoint, '--data', path.join(dir, 'nowhere')], `evaluate: --data ${path.join(dir, 'nowhere')}: no such directory`],
      [['--checkpoint', checkpoint, '--bogus'], 'evaluate: unknown option --bogus'],
      // --json is checked before the evaluation runs (the output must also be empty: no tables printed).
      [['--checkpoint', checkpoint, '--json', path.join(dir, 'nowhere', 'r.json')], `evaluate: --json ${path.join(dir, 'nowhere', 'r.json')}: the directory ${path.join(dir, 'nowhere')} does not exist`],
      [['--checkpoint', checkpoint, '--json', dir], `evaluate: --json ${JSON.stringify(dir)}: need a file name, not a directory`],
    ];
    for (const [args, start] of cases) {
      const r = await runEvaluate(args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.err.startsWith(start), r.err).to.equal(true);
      expect(r.err.split('\n')).to.have.length(2);
      if (args.includes('--json')) expect(r.out, 'nothing evaluated before the --json check').to.equal('');
    }
  });

  it("names the checkpoint's own data, not a --data never given, when its classes disagree with the model's", async () => {
    const edited = path.join(dir, 'edited.safetensors');
    const ck = loadCheckpoint(checkpoint);
    saveCheckpoint(edited, { tensors: ck.tensors, state: { ...ck.state, classNames: ['a', 'b', 'c'] } });
    const r = await runEvaluate(['--checkpoint', edited]);
    expect(r.code, r.err).to.equal(2);
    expect(r.err).to.equal("evaluate: the checkpoint's synthetic data: has 10 classes but the checkpoint's model has 3\n");
  });

  it('refuses a --json path that is the checkpoint or another .safetensors file, and leaves it intact', async () => {
    const before = fs.readFileSync(checkpoint);
    const other = path.join(dir, 'other.safetensors');
    writeSafetensors(other, { w: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
    const otherBefore = fs.readFileSync(other);
    const metricsFile = path.join(dir, 'my-metrics.jsonl');
    fs.writeFileSync(metricsFile, '{"type":"step"}\n');
    const link = path.join(dir, 'link.json');
    fs.symlinkSync(checkpoint, link);
    // The checkpoint spelled another way (a relative path, a symlink) is the same file.
    const relative = path.relative(process.cwd(), checkpoint);
    const cases: [string[], string][] = [
      [['--checkpoint', checkpoint, '--json', checkpoint], `evaluate: --json ${checkpoint}: is the checkpoint being evaluated`],
      [['--checkpoint', checkpoint, '--json', relative], `evaluate: --json ${relative}: is the checkpoint being evaluated`],
      [['--checkpoint', checkpoint, '--json', link], `evaluate: --json ${link}: is the checkpoint being evaluated`],
      [['--checkpoint', checkpoint, '--json', other], `evaluate: --json ${other}: would overwrite a saved .safetensors file`],
      [['--checkpoint', checkpoint, '--json', metricsFile], `evaluate: --json ${metricsFile}: exists and is not a .json report`],
    ];
    for (const [args, start] of cases) {
      const r = await runEvaluate(args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.err.startsWith(start), r.err).to.equal(true);
      expect(r.err.split('\n')).to.have.length(2);
      expect(r.out, 'nothing evaluated').to.equal('');
    }
    expect(fs.readFileSync(checkpoint).equals(before), 'checkpoint unchanged').to.equal(true);
    expect(fs.lstatSync(link).isSymbolicLink()).to.equal(true);
    expect(fs.readFileSync(other).equals(otherBefore), 'other .safetensors unchanged').to.equal(true);
    expect(fs.readFileSync(metricsFile, 'utf-8'), 'metrics file unchanged').to.equal('{"type":"step"}\n');
  });

  it("refuses to replace the run's own config.json or checkpoint.json, and leaves them intact", async () => {
    const runDir = path.dirname(checkpoint);
    for (const name of ['config.json', 'checkpoint.json']) {
      const file = path.join(runDir, name);
      const before = fs.readFileSync(file);
      const r = await runEvaluate(['--checkpoint', checkpoint, '--limit', '10', '--json', file]);
      expect(r.code, r.err).to.equal(2);
      expect(r.err.startsWith(`evaluate: --json ${file}: would overwrite a training run's ${name}`), r.err).to.equal(true);
      expect(r.out, 'nothing evaluated').to.equal('');
      expect(fs.readFileSync(file).equals(before), `${name} unchanged`).to.equal(true);
    }
  });

  it('overwrites an earlier .json report', async () => {
    const json = path.join(dir, 'again.json');
    const first = await runEvaluate(['--checkpoint', checkpoint, '--limit', '20', '--json', json]);
    expect(first.code, first.err).to.equal(0);
    expect((JSON.parse(fs.readFileSync(json, 'utf-8')) as EvaluationReport).images).to.equal(20);
    const r = await runEvaluate(['--checkpoint', checkpoint, '--limit', '10', '--json', json]);
    expect(r.code, r.err).to.equal(0);
    expect((JSON.parse(fs.readFileSync(json, 'utf-8')) as EvaluationReport).images).to.equal(10);
  });

  it('refuses to replace an existing .json file that is not an earlier report (package.json, notes), and leaves it intact', async () => {
    // The README: --json "replaces only an earlier .json report, never the checkpoint or another existing file".
    const cases: [string, string][] = [
      ['package.json', '{\n  "name": "my-project",\n  "scripts": { "test": "mocha" }\n}\n'],
      ['notes.json', '{"old": true}\n'],
      ['list.json', '[1, 2, 3]\n'],
      ['broken.json', '{ not json\n'],
    ];
    for (const [name, text] of cases) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      const r = await runEvaluate(['--checkpoint', checkpoint, '--limit', '10', '--json', file]);
      expect(r.code, `${name}: ${r.err}`).to.equal(2);
      expect(r.err.startsWith(`evaluate: --json ${file}: exists and is not an earlier evaluate report`), r.err).to.equal(true);
      expect(r.err.split('\n')).to.have.length(2);
      expect(r.out, 'nothing evaluated').to.equal('');
      expect(fs.readFileSync(file, 'utf-8'), `${name} unchanged`).to.equal(text);
    }
  });

  it('refuses a flag given more than once, and reports parse errors on one line', async () => {
    const cases: [string[], string][] = [
      [['--checkpoint', checkpoint, '--split', 'test', '--split', 'train'], 'evaluate: --split is given more than once'],
      [['--checkpoint', checkpoint, '--checkpoint', checkpoint], 'evaluate: --checkpoint is given more than once'],
      [['--checkpoint', checkpoint, '--limit=5', '--limit', '5'], 'evaluate: --limit is given more than once'],
      [['--checkpoint', checkpoint, 'extra'], 'evaluate: unexpected argument "extra"'],
      [['--checkpoint', checkpoint, '--help=yes'], 'evaluate: --help is a switch and takes no value'],
      [['--checkpoint', checkpoint, '--limit', '-5'], 'evaluate: --limit needs a value; to give one that starts with a dash write --limit=VALUE'],
    ];
    for (const [args, start] of cases) {
      const r = await runEvaluate(args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.err.startsWith(start), r.err).to.equal(true);
      expect(r.err.split('\n')).to.have.length(2);
      expect(r.out).to.equal('');
    }
  });

  it('runs as a process (scripts/evaluate.ts) and prints the tables', () => {
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'scripts', 'evaluate.ts'), '--checkpoint', checkpoint],
      { cwd: ROOT, encoding: 'utf-8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.include(`accuracy ${(100 * lastEpoch.testAccuracy).toFixed(2)}%`);
    expect(r.stdout).to.include('0 disc').and.to.include('9 dots').and.to.include('true \\ predicted');
  });
});
