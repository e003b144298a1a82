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
 * these, and so do MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_; TSGRAD_MALLOC_TUNING=off turns
 * the whole thing off. There is no relaunch under a debugger or without a script file (-e, -p), and
 * the waiting parent passes signals on (relaunchWithTunedMalloc says which, and when not).
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as tty from 'tty';

/** The glibc tunables set, in GLIBC_TUNABLES syntax order. */
export const TUNED_MALLOC: ReadonlyArray<readonly [string, string]> = [
  ['glibc.malloc.mmap_threshold', String(32 * 1024 * 1024)],
  ['glibc.malloc.trim_threshold', String(1024 * 1024 * 1024)],
];

/**
 * glibc's older names for the same two settings. glibc 2.36 lets GLIBC_TUNABLES win over them, so a
 * setting the user made this way must not be added to GLIBC_TUNABLES.
 */
export const MALLOC_ALIASES: Readonly<Record<string, string>> = {
  'glibc.malloc.mmap_threshold': 'MALLOC_MMAP_THRESHOLD_',
  'glibc.malloc.trim_threshold': 'MALLOC_TRIM_THRESHOLD_',
};

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
 * does not set itself, and that is not in `userSet` (names), appended: the user's own values win.
 */
export function mergeTunables(existing: string | undefined, userSet: Iterable<string> = []): string {
  const entries = existing === undefined || existing === '' ? [] : existing.split(':');
  const named = new Set([...entries.map((e) => e.split('=')[0]), ...userSet]);
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
 * do: turned off, not glibc, or every setting already made (in GLIBC_TUNABLES or MALLOC_ALIASES).
 */
export function tunedEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv | null {
  if (tuningOff(env) || !hasGlibc()) return null;
  const userSet = Object.keys(MALLOC_ALIASES).filter((k) => env[MALLOC_ALIASES[k]] !== undefined);
  const merged = mergeTunables(env.GLIBC_TUNABLES, userSet);
  if (merged === (env.GLIBC_TUNABLES ?? '')) return null;
  return { ...env, GLIBC_TUNABLES: merged };
}

/**
 * Why this process must not start a second copy of itself, or null. Not started on a script file
 * (`-e`, `-p`, the REPL, a script on stdin): there is nothing to start again, or it would run the
 * eval'd code or read stdin a second time. Under a debugger (`--inspect`, `--inspect-brk`, or an
 * inspector opened by a preload, as editors' auto-attach does): the second process would fight for
 * the inspector's port and the debugger would sit in a parent that only waits.
 */
export function relaunchObstacle(argv: readonly string[] = process.argv, execArgv: readonly string[] = process.execArgv): string | null {
  if (argv[1] === undefined || argv[1] === '-') return 'not started on a script file';
  for (const a of execArgv) {
    if (/^(-e|-p|-pe|-i|-c|--eval|--print|--interactive|--check)(=|$)/.test(a)) return `started with ${a.split('=')[0]}`;
    if (/^--(inspect|inspect-brk|inspect-wait|debug|debug-brk)(=|$)/.test(a)) return 'under a debugger';
  }
  try {
    if ((require('inspector') as typeof import('inspector')).url() !== undefined) return 'under a debugger';
  } catch {
    // a Node built without the inspector
  }
  return null;
}

/** The malloc settings `env` gives a process, for a report: GLIBC_TUNABLES and any MALLOC_ALIASES set. */
export function mallocSettings(env: NodeJS.ProcessEnv): string {
  const aliases = Object.values(MALLOC_ALIASES).filter((a) => env[a] !== undefined).map((a) => `${a}=${env[a]}`);
  return [`GLIBC_TUNABLES=${env.GLIBC_TUNABLES ?? ''}`, ...aliases].join(' ');
}

/** Signals the waiting parent passes on to the relaunched process. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * From the text of /proc/<pid>/stat: whether that process is in the foreground process group of its
 * controlling terminal (pgrp equals the terminal's tpgid), or null when the text does not parse.
 * Only then does a Ctrl-C on the terminal reach it, and with it the relaunched process.
 */
export function foregroundFromStat(stat: string): boolean | null {
  // "pid (comm) state ppid pgrp session tty_nr tpgid ..."; comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 1).trim().split(/\s+/);
  const pgrp = Number(fields[2]);
  const tpgid = Number(fields[5]);
  if (fields.length < 6 || !Number.isInteger(pgrp) || !Number.isInteger(tpgid)) return null;
  return tpgid > 0 && tpgid === pgrp;
}

/**
 * True when a key on a terminal (Ctrl-C) signals this process's whole process group, which the
 * relaunched process shares: this process is in the terminal's foreground process group. Read when
 * the signal comes (a job can be moved between foreground and background). Without /proc, guesses
 * from whether a standard stream is a terminal.
 */
function terminalSignalsGroup(): boolean {
  try {
    const fg = foregroundFromStat(fs.readFileSync('/proc/self/stat', 'utf-8'));
    if (fg !== null) return fg;
  } catch {
    // no /proc: fall through
  }
  return tty.isatty(0) || tty.isatty(1) || tty.isatty(2);
}

/**
 * Starts this script again (same node, flags and arguments, stdio shared) with the tuned
 * environment, and resolves to the exit code to leave with once it ends. Returns null when no
 * relaunch is needed or it must not happen (relaunchObstacle: -e/-p/REPL, a debugger), and
 * resolves to null when the process could not be started: the caller then runs the script itself,
 * untuned. If the relaunched process dies by a signal, so does this one (after removing its own
 * listeners; if some other listener keeps it alive, it leaves with 128 + the signal's number).
 *
 * SIGINT, SIGTERM and SIGHUP sent to this process (`kill <pid>`) are passed on. The one exception:
 * while this process is in the foreground process group of its controlling terminal, a SIGINT is
 * taken for a Ctrl-C, which the terminal sends to the whole group, the relaunched process included,
 * so it is not passed on again (train-cifar reads a second SIGINT as "exit now"). Whether a standard
 * stream is a terminal does not decide this: `npm run train </dev/null >log 2>&1` still gets Ctrl-C,
 * and a background job with its output on the terminal does not. The cost: a `kill -INT` aimed at
 * this pid alone while it is the terminal's foreground job is not passed on (SIGTERM is).
 * A signal sent to the whole group or to every matching pid (timeout(1), `kill %1`, systemd,
 * `pkill -f`) still arrives twice, directly and passed on; this process cannot tell, so a script
 * that counts signals must take a quick repeat for one (scripts/train/signals.ts does).
 */
export function relaunchWithTunedMalloc(script: string): Promise<number | null> | null {
  if (process.env[RELAUNCHED_VAR] !== undefined || relaunchObstacle() !== null) return null;
  const env = tunedEnv(process.env);
  if (env === null) return null;
  env[RELAUNCHED_VAR] = '1';
  return new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals): void => {
      if (signal === 'SIGINT' && terminalSignalsGroup()) return;
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

/**
 * A script's entry point: runs `run` in this process, or in a relaunched copy with the tuned
 * settings (relaunchWithTunedMalloc), leaving with that copy's exit code. `run` runs here when no
 * relaunch is needed, may not happen, or could not start.
 */
export function runWithTunedMalloc(script: string, run: () => void): void {
  const relaunched = relaunchWithTunedMalloc(script);
  if (relaunched === null) {
    run();
    return;
  }
  void relaunched.then((code) => {
    if (code === null) run();
    else process.exitCode = code;
  });
}
