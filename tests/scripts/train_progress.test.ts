/**
 * The live progress bar of train-cifar on a terminal: cli-progress hides the cursor (ESC[?25l) and
 * turns off line wrapping (ESC[?7l) while a bar is shown. Whatever ends the run — a second Ctrl-C
 * (process.exit), an error in the loop — the terminal must get both back (ESC[?25h, ESC[?7h), and an
 * error line must come after them, or the user's shell is left without a cursor and the message is
 * cut at the screen's edge.
 *
 * The terminal is a stand-in: an object of class tty.WriteStream (what createProgress checks) that
 * records what is written to it.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tty from 'tty';
import { main } from '../../scripts/train-cifar';

const ROOT = path.join(__dirname, '..', '..');
const HIDE = '\x1B[?25l';
const SHOW = '\x1B[?25h';
const NOWRAP = '\x1B[?7l';
const WRAP = '\x1B[?7h';

/** A "terminal" that keeps what is written to it. */
function fakeTerminal(): tty.WriteStream & { text: string } {
  const t = Object.create(tty.WriteStream.prototype) as tty.WriteStream & { text: string };
  Object.defineProperty(t, 'isTTY', { value: true });
  Object.defineProperty(t, 'columns', { value: 120 });
  t.text = '';
  (t as { write: unknown }).write = (s: string, cb?: unknown): boolean => {
    t.text += s;
    if (typeof cb === 'function') (cb as () => void)();
    return true;
  };
  return t;
}

/** True when every HIDE / NOWRAP in `text` (up to `end`) is followed by its SHOW / WRAP before `end`. */
function restoredBefore(text: string, end: number): boolean {
  const upTo = text.slice(0, end);
  return upTo.lastIndexOf(HIDE) < upTo.lastIndexOf(SHOW) && upTo.lastIndexOf(NOWRAP) < upTo.lastIndexOf(WRAP);
}

describe('scripts/train progress bar on a terminal', function () {
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-progress-'));
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives the terminal its cursor and line wrapping back when the process exits with a bar shown', () => {
    // What a second Ctrl-C does: process.exit(130) in the middle of an epoch.
    const child = path.join(dir, 'exit-mid-bar.ts');
    fs.writeFileSync(child, `
      import * as fs from 'fs';
      import * as tty from 'tty';
      import { createProgress } from ${JSON.stringify(path.join(ROOT, 'scripts', 'train', 'progress'))};
      const t = Object.create(tty.WriteStream.prototype);
      Object.defineProperty(t, 'isTTY', { value: true });
      Object.defineProperty(t, 'columns', { value: 120 });
      t.write = (s: string, cb?: () => void) => { fs.writeSync(1, s); if (cb) cb(); return true; };
      const p = createProgress(t);
      p.startEpoch(1, 2, 10, 0);
      p.update({ epoch: 1, epochs: 2, step: 3, stepsPerEpoch: 10, loss: 2.3, accuracy: 0.1, lr: 0.01, imagesPerSec: 100, etaSeconds: 5, logNow: false });
      fs.writeSync(1, 'EXITING');
      process.exit(130);
    `);
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', child], { cwd: ROOT, encoding: 'utf-8', timeout: 120000 });
    expect(r.status, r.stderr).to.equal(130);
    expect(r.stdout).to.include(HIDE);
    expect(r.stdout).to.include(NOWRAP);
    const exiting = r.stdout.indexOf('EXITING');
    expect(exiting).to.be.greaterThan(0);
    expect(restoredBefore(r.stdout, exiting), 'restored only by the exit').to.equal(false);
    expect(restoredBefore(r.stdout, r.stdout.length), JSON.stringify(r.stdout.slice(exiting))).to.equal(true);
  });

  it('closes the bar before an error in the training loop is reported', async () => {
    const term = fakeTerminal();
    const code = await main(
      ['--synthetic-train', '64', '--synthetic-test', '8', '--width', '2', '--epochs', '1', '--batch-size', '16', '--out', path.join(dir, 'run')],
      {
        stdout: term, stderr: term, stop: { requested: null },
        onStep: (step) => {
          if (step === 2) throw new Error('ENOSPC: no space left on device');
        },
      },
    );
    expect(code).to.equal(1);
    const at = term.text.indexOf('train-cifar: error: ENOSPC: no space left on device');
    expect(at, JSON.stringify(term.text)).to.be.greaterThan(0);
    expect(term.text.slice(0, at)).to.include(HIDE);
    expect(restoredBefore(term.text, at), JSON.stringify(term.text.slice(0, at))).to.equal(true);
  });
});
