/**
 * glibc malloc settings for the long-running scripts (train-cifar, evaluate, the benchmark's
 * workload processes). Linux with glibc only; elsewhere nothing changes.
 *
 * Why. Tensor storage comes from malloc (plain and shared ArrayBuffers alike). A training step frees
 * and reallocates tens of MB of tensors, and glibc gives freed memory back to the kernel: it trims
 * the free top of a heap beyond a threshold and maps large blocks afresh under its dynamic mmap
 * threshold. Every page of such memory then faults again when a tensor is next written. On the
 * Firecracker VM this project is measured on a fault on fresh memory costs about 15 µs (64 MB
 * touched for the first time: 250 ms), and a ResNet18 step at 2 threads refaulted up to 7,000
 * pages (~100 ms) in its slow steps. With the mmap threshold fixed at 32 MB (glibc's maximum for
 * the dynamic one) and the trim threshold at 1 GiB, the heaps keep their pages: W4's 200-step
 * medians at 2 threads went 136.6 / 133.4 → 112.9 / 111.7 ms (docs/PERFORMANCE.md, twenty-sixth
 * session). Peak resident memory stays what the step needs; it just is not returned between steps.
 *
 * glibc reads GLIBC_TUNABLES only when a process starts, so a script relaunches itself once with
 * the variable set (as PyTorch's CPU launcher, torch.backends.xeon.run_cpu, starts the script
 * again with its allocator settings). A user's own GLIBC_TUNABLES entries are kept and win over
 * these; TSGRAD_MALLOC_TUNING=off turns the whole thing off.
 */
import { spawn } from 'child_process';
import * as os from 'os';

/** The glibc tunables set, in GLIBC_TUNABLES syntax order. */
export const TUNED_MALLOC: ReadonlyArray<readonly [string, string]> = [
  ['glibc.malloc.mmap_threshold', String(32 * 1024 * 1024)],
  ['glibc.malloc.trim_threshold', String(1024 * 1024 * 1024)],
];

/** Environment variable that turns the tuning off ('off', '0' or 'false'). */
export const OPT_OUT_VAR = 'TSGRAD_MALLOC_TUNING';
/** Set in a relaunched process, so it never relaunches again. */
export const RELAUNCHED_VAR = 'TSGRAD_RELAUNCHED';

let glibc: boolean | null = null;

/** True when this process runs on glibc (Node's diagnostic report names its runtime version). */
export function hasGlibc(): boolean {
  if (glibc === null) {
    glibc = false;
    if (process.platform === 'linux') {
      try {
        const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
        glibc = typeof header?.glibcVersionRuntime === 'string';
      } catch {
        glibc = false;
      }
    }
  }
  return glibc;
}

/**
 * `existing` (a GLIBC_TUNABLES value, or undefined) with each of TUNED_MALLOC's settings that it
 * does not set itself appended: the user's own values win.
 */
export function mergeTunables(existing: string | undefined): string {
  const entries = existing === undefined || existing === '' ? [] : existing.split(':');
  const named = new Set(entries.map((e) => e.split('=')[0]));
  for (const [k, v] of TUNED_MALLOC) if (!named.has(k)) entries.push(`${k}=${v}`);
  return entries.join(':');
}

/** True when the tuning is turned off in `env`. */
export function tuningOff(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env[OPT_OUT_VAR];
  return v !== undefined && ['off', '0', 'false', 'no'].includes(v.trim().toLowerCase());
}

/**
 * A copy of `env` with the tunables merged into GLIBC_TUNABLES, or null when there is nothing to
 * do: turned off, not glibc, or every setting already present.
 */
export function tunedEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv | null {
  if (tuningOff(env) || !hasGlibc()) return null;
  const merged = mergeTunables(env.GLIBC_TUNABLES);
  if (merged === (env.GLIBC_TUNABLES ?? '')) return null;
  return { ...env, GLIBC_TUNABLES: merged };
}

/** Signals the waiting parent passes on to the relaunched process. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Starts this script again (same node, flags and arguments, stdio shared) with the tuned
 * environment, and resolves to the exit code to leave with once it ends. Returns null when no
 * relaunch is needed, and resolves to null when the process could not be started: the caller then
 * runs the script itself, untuned. If the relaunched process dies by a signal, so does this one.
 *
 * Signals sent to this process (`kill <pid>`) are passed on. Ctrl-C on a terminal reaches both
 * processes already (they share its process group), so while a terminal is attached SIGINT is not
 * passed on again: the scripts read a second SIGINT as "exit now".
 */
export function relaunchWithTunedMalloc(script: string): Promise<number | null> | null {
  if (process.env[RELAUNCHED_VAR] !== undefined) return null;
  const env = tunedEnv(process.env);
  if (env === null) return null;
  env[RELAUNCHED_VAR] = '1';
  const interactive = process.stdin.isTTY === true || process.stdout.isTTY === true || process.stderr.isTTY === true;
  return new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals): void => {
      if (signal === 'SIGINT' && interactive) return;
      child.kill(signal);
    };
    for (const s of FORWARDED) process.on(s, forward);
    const done = (): void => {
      for (const s of FORWARDED) process.off(s, forward);
    };
    child.on('error', (e) => {
      if (child.pid !== undefined) return; // a failed kill of a process that already ended: 'exit' settles
      done();
      process.stderr.write(`${script}: could not restart with tuned malloc settings (${e.message}); running untuned\n`);
      resolve(null);
    });
    child.on('exit', (code, signal) => {
      done();
      if (signal !== null) {
        // Die the same way, so a shell or a supervisor sees what happened to the job.
        process.kill(process.pid, signal);
        resolve(128 + (os.constants.signals[signal] ?? 0));
        return;
      }
      resolve(code ?? 1);
    });
  });
}
