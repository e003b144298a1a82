/**
 * What a person watching a run sees. On a terminal: a live cli-progress bar per epoch (loss,
 * accuracy, images/s, ETA), replaced by the epoch's summary line when the epoch ends. Anywhere
 * else (CI logs, `> file`, a pipe): a plain line every --log-every steps, because a bar's
 * carriage returns turn a log into one unreadable line.
 *
 * A bar hides the cursor and turns off line wrapping; runLoop closes it however the loop ends, and
 * an exit with a bar shown (a second Ctrl-C) still gives the terminal both back.
 */
import * as tty from 'tty';
import { SingleBar } from 'cli-progress';
import type { TextSink } from './errors';

export interface StepProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  /** Running mean over the epoch so far. */
  loss: number;
  accuracy: number;
  lr: number;
  imagesPerSec: number;
  /** Seconds left in this epoch's training steps. */
  etaSeconds: number;
  /** True on the steps that get a metrics record (every --log-every steps). */
  logNow: boolean;
}

export interface ProgressReporter {
  startEpoch(epoch: number, epochs: number, stepsPerEpoch: number, doneSteps: number): void;
  update(p: StepProgress): void;
  /** Prints a whole line (ending the bar first, if one is shown). */
  line(text: string): void;
  close(): void;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function formatStepLine(p: StepProgress): string {
  return `epoch ${p.epoch}/${p.epochs}  step ${p.step}/${p.stepsPerEpoch}  loss ${p.loss.toFixed(4)}  acc ${(100 * p.accuracy).toFixed(1)}%  ` +
    `lr ${fmtLr(p.lr)}  ${p.imagesPerSec.toFixed(1)} img/s  ETA ${formatDuration(p.etaSeconds)}`;
}

export function fmtLr(lr: number): string {
  return lr === 0 ? '0' : lr >= 1e-3 ? lr.toFixed(5).replace(/0+$/, '').replace(/\.$/, '') : lr.toExponential(2);
}

/** A bar on a terminal, plain lines otherwise. */
export function createProgress(stdout: TextSink): ProgressReporter {
  if (stdout instanceof tty.WriteStream && stdout.isTTY) return new BarProgress(stdout);
  return new LineProgress(stdout);
}

class LineProgress implements ProgressReporter {
  constructor(private readonly out: TextSink) {}

  startEpoch(): void {}

  update(p: StepProgress): void {
    if (p.logNow) this.out.write(`${formatStepLine(p)}\n`);
  }

  line(text: string): void {
    this.out.write(`${text}\n`);
  }

  close(): void {}
}

class BarProgress implements ProgressReporter {
  private bar: SingleBar | null = null;
  /**
   * While a bar is shown the terminal has no cursor and no line wrapping; an exit in the middle
   * (a second Ctrl-C exits at once) must give both back, or the user's shell is left without them.
   */
  private readonly onExit = (): void => this.stopBar();

  constructor(private readonly out: tty.WriteStream) {}

  startEpoch(epoch: number, epochs: number, stepsPerEpoch: number, doneSteps: number): void {
    this.stopBar();
    process.once('exit', this.onExit);
    this.bar = new SingleBar({
      stream: this.out,
      format: `epoch ${epoch}/${epochs} {bar} {value}/{total} | loss {loss} | acc {acc}% | {ips} img/s | ETA {etaText}`,
      barsize: 24,
      barCompleteChar: '\u2588',
      barIncompleteChar: '\u2591',
      hideCursor: true,
      clearOnComplete: true,
      // Our own ETA, from the measured step rate: cli-progress's would count resumed steps as instant.
      etaBuffer: 1,
      fps: 5,
    });
    this.bar.start(stepsPerEpoch, doneSteps, { loss: '-', acc: '-', ips: '-', etaText: '--:--' });
  }

  update(p: StepProgress): void {
    this.bar?.update(p.step, {
      loss: p.loss.toFixed(4),
      acc: (100 * p.accuracy).toFixed(1),
      ips: p.imagesPerSec.toFixed(1),
      etaText: formatDuration(p.etaSeconds),
    });
  }

  line(text: string): void {
    this.stopBar();
    this.out.write(`${text}\n`);
  }

  close(): void {
    this.stopBar();
  }

  private stopBar(): void {
    process.off('exit', this.onExit);
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
  }
}
