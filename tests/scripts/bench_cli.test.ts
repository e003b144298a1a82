/**
 * scripts/bench.ts's command line: bad input is one line on stderr and exit code 2 before any
 * workload runs. In-process through parseBenchArgs (no benchmark runs); one spawn checks the wiring.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { parseBenchArgs } from '../../scripts/bench';
import { usageErrorOf } from '../support/cli';

const ROOT = path.join(__dirname, '..', '..');
const SCRIPT = path.join(ROOT, 'scripts', 'bench.ts');

const usageError = (args: string[]): string => usageErrorOf(parseBenchArgs, args);

describe('scripts/bench command line', function () {
  it('rejects bad input with a one-line message naming the flag and the value', () => {
    const cases: [string[], RegExp][] = [
      [['--only', 'W1', '--steps', '20'], /^--steps 20 applies to W4 and W5 only, but --only W1 lists W1/],
      [['--only', 'W1,W4', '--steps', '20'], /^--steps 20 applies to W4 and W5 only, but --only W1,W4 lists W1/],
      [['--threads='], /^--threads needs a comma-separated list with no empty item, got ""/],
      [['--only='], /^--only needs a comma-separated list with no empty item, got ""/],
      [['--threads', '1,,2'], /^--threads needs a comma-separated list with no empty item, got "1,,2"/],
      [['--only', 'W4', '--only', 'W1'], /^--only is given more than once$/],
      [['--steps', '20', '--steps=30', '--only', 'W4'], /^--steps is given more than once$/],
      [['--json', '--json'], /^--json is given more than once$/],
      [['--child', 'W9'], /^--child: unknown workload "W9"/],
      [['--child', 'W1', '--steps', '20'], /^--steps 20 applies to W4 and W5 only, got --child W1/],
      [['--only', 'W4', '--steps', '20', '--reps', '3'], /^--reps does not apply with --steps 20 \(which times each of its 20 steps\); give one or the other$/],
      [['--steps', '-1'], /^--steps needs a value; to give one that starts with a dash write --steps=VALUE$/],
      [['--steps=-1'], /^--steps must be 0 \(off\) or an integer > 10, got "-1"$/],
      [['--steps', '5'], /^--steps must be 0 \(off\) or an integer > 10, got "5"$/],
      [['--steps', '1e3'], /^--steps must be 0 \(off\) or an integer > 10, got "1e3"$/],
      [['--steps='], /^--steps must be 0 \(off\) or an integer > 10, got ""$/],
      [['--threads', '1,1'], /^--threads lists 1 more than once, got "1,1"$/],
      [['--only', 'W1,W1'], /^--only lists W1 more than once, got "W1,W1"$/],
      [['--only', 'W6'], /^--only: unknown workload "W6"/],
      [['--threads', '0'], /^--threads must be integers from 1 to \d+, got "0"$/],
      [['--threads', '0x2'], /^--threads must be integers from 1 to \d+, got "0x2"$/],
      [['--reps', '0'], /^--reps must be a positive integer, got "0"$/],
      [['--reps='], /^--reps must be a positive integer, got ""$/],
      [['--bogus'], /^unknown option --bogus/],
      [['W1'], /^unexpected argument "W1"/],
      [['--json=yes'], /^--json is a switch and takes no value$/],
    ];
    for (const [args, re] of cases) expect(usageError(args), args.join(' ')).to.match(re);
  });

  it('accepts the documented forms', () => {
    const a = parseBenchArgs(['--only', 'W4', '--steps', '200']);
    expect(a).to.not.equal('help');
    if (a === 'help') return;
    expect(a.only).to.deep.equal(['W4']);
    expect(a.steps).to.equal(200);
    const b = parseBenchArgs(['--json', '--only', 'W4', '--threads', '1,2']);
    if (b === 'help') throw new Error('help');
    expect(b.threads).to.deep.equal([1, 2]);
    expect(b.json).to.equal(true);
    // --steps 0 is the default: off.
    const c = parseBenchArgs(['--steps', '0']);
    if (c === 'help') throw new Error('help');
    expect(c.steps).to.equal(0);
    expect(c.only).to.deep.equal(['W1', 'W2', 'W3', 'W4', 'W5']);
    // --steps without --only means W4 and W5.
    const d = parseBenchArgs(['--steps', '20']);
    if (d === 'help') throw new Error('help');
    expect(d.only).to.deep.equal(['W4', 'W5']);
    expect(parseBenchArgs(['--help'])).to.equal('help');
  });

  it('prints one line and exits 2 as a process, before any output', () => {
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', SCRIPT, '--only', 'W1', '--steps', '20'],
      { cwd: ROOT, encoding: 'utf-8', timeout: 120000 });
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.match(/^bench: --steps 20 applies to W4 and W5 only[^\n]*\n$/);
  });
});
