/**
 * Ctrl-C / SIGTERM for a long job: the first signal asks the loop to stop after the current step
 * (it then writes a checkpoint and exits 130); a second one exits at once, which is safe because
 * every file is written atomically, so the previous checkpoint is whole either way. The message
 * names that checkpoint (stop.checkpoint, kept by the loop), or says there is none yet.
 *
 * The same signal again within REPEAT_WINDOW_MS of the first is that one request delivered twice,
 * not a second one: a signal sent to the whole process group or to every process whose command line
 * matches (timeout(1), `kill %1`, systemd's stop, `pkill -f train-cifar`) reaches the script once
 * directly and once more through the parent that relaunched it with tuned malloc settings
 * (lib/platform/malloc_tuning.ts), a few milliseconds apart; timeout(1) even sends it twice itself.
 */
import type { StopState } from './trainer';
import { EXIT_INTERRUPTED, TextSink } from './errors';

/** How long after the first stop signal the same signal counts as that one delivered twice. */
export const REPEAT_WINDOW_MS = 500;

export function installStopHandlers(stop: StopState, stderr: TextSink, script: string): () => void {
  let first: { signal: NodeJS.Signals; at: number } | null = null;
  const handler = (signal: NodeJS.Signals): void => {
    const now = performance.now();
    if (first !== null && first.signal === signal && now - first.at < REPEAT_WINDOW_MS) return;
    if (stop.requested !== null) {
      stderr.write(stop.checkpoint
        ? `\n${script}: second ${signal}: exiting now without a new checkpoint; the last one, ${stop.checkpoint}, is intact\n`
        : `\n${script}: second ${signal}: exiting now; no checkpoint has been written yet\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    stop.requested = signal;
    first = { signal, at: now };
    stderr.write(`\n${script}: ${signal} received: stopping after the current step and writing a checkpoint (send again to exit at once)\n`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** Lets pending events (such as a signal handler) run between two steps of synchronous work. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Keeps a job running when its output pipe closes (`npm run train | head`): without a listener,
 * Node turns the EPIPE into an uncaught exception and the run dies without its checkpoint.
 */
export function tolerateClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
  });
}
