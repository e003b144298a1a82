/**
 * scripts/gradient-flow.ts's command line: bad input (including an --out that cannot be written)
 * is one line on stderr and exit code 2 before any model is built. In-process through
 * parseGradientFlowArgs; one spawn checks the wiring.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseGradientFlowArgs } from '../../scripts/gradient-flow';
import { usageErrorOf } from '../support/cli';

const ROOT = path.join(__dirname, '..', '..');
const SCRIPT = path.join(ROOT, 'scripts', 'gradient-flow.ts');

const usageError = (args: string[]): string => usageErrorOf(parseGradientFlowArgs, args);

describe('scripts/gradient-flow command line', function () {
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-gflow-'));
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rejects bad input with a one-line message naming the flag and the value', () => {
    const missing = path.join(dir, 'nonexist', 'x.svg');
    const saved = path.join(dir, 'model.safetensors');
    fs.writeFileSync(saved, 'weights');
    const cases: [string[], string][] = [
      [['--out', missing], `--out ${missing}: the directory ${path.join(dir, 'nonexist')} does not exist`],
      [['--out='], '--out "": need a file name, not a directory'],
      [['--out', dir], `--out ${JSON.stringify(dir)}: need a file name, not a directory`],
      [['--out', saved], `--out ${saved}: exists and is not an .svg chart; refusing to overwrite it`],
      [['--seed', '1e20'], '--seed must be an integer >= 0 and < 2^53, got "1e20"'],
      [['--seed='], '--seed must be an integer >= 0 and < 2^53, got ""'],
      [['--seed', '9007199254740992'], '--seed must be an integer >= 0 and < 2^53, got "9007199254740992"'],
      [['--seed=-1'], '--seed must be an integer >= 0 and < 2^53, got "-1"'],
      [['--seed', '1.5'], '--seed must be an integer >= 0 and < 2^53, got "1.5"'],
      [['--width', '0'], '--width must be an integer >= 1 and <= 512, got "0"'],
      // As train-cifar's --width and --batch-size: past these the run dies deep inside (an allocation,
      // or the synthetic set's size check naming its own parameter) with exit 1.
      [['--width', '513'], '--width must be an integer >= 1 and <= 512, got "513"'],
      [['--width', '100000'], '--width must be an integer >= 1 and <= 512, got "100000"'],
      [['--batch', '0x10'], '--batch must be an integer >= 2 and <= 65536, got "0x10"'],
      [['--batch', '65537'], '--batch must be an integer >= 2 and <= 65536, got "65537"'],
      [['--batch', '100000000'], '--batch must be an integer >= 2 and <= 65536, got "100000000"'],
      [['--variant', 'x'], '--variant must be imagenet or cifar, got "x"'],
      [['--seed', '1', '--seed', '2'], '--seed is given more than once'],
      [['--seed', '-1'], '--seed needs a value; to give one that starts with a dash write --seed=VALUE'],
      [['--bogus'], 'unknown option --bogus (see --help)'],
    ];
    for (const [args, msg] of cases) expect(usageError(args), args.join(' ')).to.equal(msg);
    expect(fs.readFileSync(saved, 'utf-8')).to.equal('weights');
  });

  it('accepts the defaults, a safe seed and an existing .svg to replace', () => {
    const svg = path.join(dir, 'old.svg');
    fs.writeFileSync(svg, '<svg/>');
    expect(parseGradientFlowArgs(['--seed', '9007199254740991', '--out', svg])).to.deep.equal(
      { width: 16, variant: 'cifar', batch: 32, seed: 9007199254740991, out: svg });
    expect(parseGradientFlowArgs(['--width', '512', '--batch', '65536', '--out', svg])).to.deep.equal(
      { width: 512, variant: 'cifar', batch: 65536, seed: 0, out: svg });
    expect(parseGradientFlowArgs(['--help'])).to.equal('help');
  });

  it('prints one line and exits 2 as a process, before computing anything', () => {
    const missing = path.join(dir, 'nonexist', 'x.svg');
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', SCRIPT, '--out', missing],
      { cwd: ROOT, encoding: 'utf-8', timeout: 120000 });
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal(`gradient-flow: --out ${missing}: the directory ${path.join(dir, 'nonexist')} does not exist\n`);
  });
});
