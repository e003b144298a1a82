/**
 * Ctrl-C / SIGTERM for a long job: the first signal asks the loop to stop after the current step
 * (it then writes a checkpoint and exits 130); a second one exits at once, which is safe because
 * every file is written atomically, so the previous checkpoint is whole either way. The message
 * names that checkpoint (stop.checkpoint, kept by the loop), or says there is none yet.
 */
import type { StopState } from './trainer';
import { EXIT_INTERRUPTED, TextSink } from './errors';

export function installStopHandlers(stop: StopState, stderr: TextSink, script: string): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    if (stop.requested !== null) {
      stderr.write(stop.checkpoint
        ? `\n${script}: second ${signal}: exiting now without a new checkpoint; the last one, ${stop.checkpoint}, is intact\n`
        : `\n${script}: second ${signal}: exiting now; no checkpoint has been written yet\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    stop.requested = signal;
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
