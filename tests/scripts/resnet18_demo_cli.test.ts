/**
 * scripts/resnet18-demo.ts's command line: like the other scripts, bad input is one line on stderr
 * naming the option, with exit code 2, before the model is built (not a parseArgs stack trace with
 * exit 1, and not a silently accepted "" or "1e3" seed). In-process through parseDemoArgs; one spawn
 * checks the wiring.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { parseDemoArgs } from '../../scripts/resnet18-demo';
import { usageErrorOf } from '../support/cli';

const ROOT = path.join(__dirname, '..', '..');
const SCRIPT = path.join(ROOT, 'scripts', 'resnet18-demo.ts');

const usageError = (args: string[]): string => usageErrorOf(parseDemoArgs, args);

describe('scripts/resnet18-demo command line', function () {
  it('rejects bad input with a one-line message naming the flag and the value', () => {
    const range = 'an integer between -(2^53 - 1) and 2^53 - 1';
    const cases: [string[], string][] = [
      [['--seed', 'abc'], `--seed must be ${range}, got "abc"`],
      [['--seed='], `--seed must be ${range}, got ""`],
      [['--seed', '1e3'], `--seed must be ${range}, got "1e3"`],
      [['--seed', '1.5'], `--seed must be ${range}, got "1.5"`],
      [['--seed', '0x10'], `--seed must be ${range}, got "0x10"`],
      [['--seed', '9007199254740992'], `--seed must be ${range}, got "9007199254740992"`],
      [['--seed'], '--seed needs a value'],
      [['--seed', '-1'], '--seed needs a value; to give one that starts with a dash write --seed=VALUE'],
      [['--seed', '1', '--seed', '2'], '--seed is given more than once'],
      [['--bogus'], 'unknown option --bogus (see --help)'],
      [['extra'], 'unexpected argument "extra": every option is --name VALUE (see --help)'],
      [['--help=yes'], '--help is a switch and takes no value'],
    ];
    for (const [args, msg] of cases) expect(usageError(args), args.join(' ')).to.equal(msg);
  });

  it('accepts the default, a negative seed and the largest safe seeds, as torch.manual_seed takes them', () => {
    expect(parseDemoArgs([])).to.deep.equal({ seed: 0 });
    expect(parseDemoArgs(['--seed=-7'])).to.deep.equal({ seed: -7 });
    expect(parseDemoArgs(['--seed', '9007199254740991'])).to.deep.equal({ seed: 9007199254740991 });
    expect(parseDemoArgs(['--seed=-9007199254740991'])).to.deep.equal({ seed: -9007199254740991 });
    expect(parseDemoArgs(['--help'])).to.equal('help');
  });

  it('prints one line and exits 2 as a process, before building anything', () => {
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', SCRIPT, '--bogus'],
      { cwd: ROOT, encoding: 'utf-8', timeout: 120000 });
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal('resnet18-demo: unknown option --bogus (see --help)\n');
  });
});
