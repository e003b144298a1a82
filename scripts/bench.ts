/**
 * The performance issue's workloads, float32, each the median of timed runs after warm-up runs, with
 * the same warm-up and run counts as ../shared/bench's TensorFlow.js script (PLAN below):
 *   W1 matmul 1024×1024 · 1024×1024
 *   W2 conv2d forward, batch 32, 128→128 channels, 16×16, 3×3, stride 1, padding 1
 *   W3 the same conv, forward + backward (input and weight gradients)
 *   W4 one ResNet18 training step (imagenet variant, width 64, 10 classes), batch 32 of 3×32×32:
 *      train-mode BN, cross-entropy, backward, SGD with momentum
 *   W5 the same for the cifar variant (3×3 stem, no max pool)
 * Each workload runs in its own child process so its peak RSS is its own.
 *
 *   npm run bench                          # W1-W5 at the default thread count
 *   npm run bench -- --json --only W4 --threads 1,2
 *   npm run bench -- --only W4 --steps 200 # memory over 200 training steps
 */
import { execFileSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { conv2d, crossEntropy, manualSeed, noGrad, randn, randint, resnet18, SGD, tensor, type Tensor } from '../index';
import { Conv2d } from '../models/nn/conv';
import { Linear } from '../models/nn/linear';
import type { ResNet } from '../models/resnet';
import { getNumThreads, MAX_THREADS, setNumThreads, shutdownThreads, waitForThreads } from '../lib/platform/threads';
import { hasGlibc, mallocSettings, OPT_OUT_VAR, tunedEnv, tuningOff } from '../lib/platform/malloc_tuning';
import { oneLine, parseFlags, UsageError } from './train/errors';

const WORKLOADS = ['W1', 'W2', 'W3', 'W4', 'W5'] as const;
type Workload = (typeof WORKLOADS)[number];

const DESCRIPTION: Record<Workload, string> = {
  W1: 'matmul 1024x1024 · 1024x1024',
  W2: 'conv2d fwd, bs 32, 128->128, 16x16, 3x3',
  W3: 'conv2d fwd+bwd, same shape',
  W4: 'ResNet18 train step, imagenet variant, bs 32',
  W5: 'ResNet18 train step, cifar variant, bs 32',
};

export interface BenchResult {
  workload: Workload;
  threads: number;
  median_ms: number;
  min_ms: number;
  max_ms: number;
  gflops: number;
  images_per_s: number | null;
  peak_rss_mb: number;
  /** --steps only: resident memory (MB) after steps 10, N/4, N/2, 3N/4 and N. */
  rss_mb_at_step?: Record<string, number>;
  rss_growth_mb?: number;
  rss_growth_second_half_mb?: number;
}

function usage(): string {
  return `usage: npm run bench -- [options]
  --only W1,W4     workloads to run (default W1,W2,W3,W4,W5)
  --threads 1,2    thread counts (default: this machine's cores, ${os.availableParallelism()})
  --reps N         timed runs per workload after warm-up (default: the peers' plan,
                   W1 9, W2 7, W3 5, W4 7, W5 5, after 2, 2, 1, 2, 1 warm-up runs)
  --json           one JSON object per line instead of a table
  --steps N        W4/W5 only: run N (> 10) training steps and report RSS at steps 10, N/4, N/2,
                   3N/4, N and its growth from step 10 to N and from N/2 to N
                   (default 0: off, the timed runs above; without --only, runs W4 and W5;
                   not with --reps)
  --help           show this help and exit
Bad options print one line and exit with code 2, before anything runs.`;
}

function fail(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Forward flops (2 per multiply-add) of every conv and linear layer of a model for one image. */
function modelForwardFlops(model: ResNet): number {
  let flops = 0;
  const restore: Array<() => void> = [];
  for (const m of model.modules()) {
    if (m instanceof Conv2d || m instanceof Linear) {
      const orig = m.forward.bind(m);
      const layer = m;
      m.forward = (x: Tensor): Tensor => {
        const y = orig(x);
        if (layer instanceof Conv2d) {
          const k = (layer.inChannels / layer.groups) * layer.kernelSize[0] * layer.kernelSize[1];
          flops += 2 * y.numel() * k;
        } else flops += 2 * y.numel() * layer.inFeatures;
        return y;
      };
      restore.push(() => { delete (m as { forward?: unknown }).forward; });
    }
  }
  noGrad(() => model.eval().call(randn([1, 3, 32, 32])));
  restore.forEach((r) => r());
  model.train();
  return flops;
}

/** Warm-up and timed runs per workload: the same as the peers' script (tfjs-bench.js), so a
 * median here and there averages the same part of each run. */
const PLAN: Record<Workload, { warmup: number; reps: number }> = {
  W1: { warmup: 2, reps: 9 }, W2: { warmup: 2, reps: 7 }, W3: { warmup: 1, reps: 5 },
  W4: { warmup: 2, reps: 7 }, W5: { warmup: 1, reps: 5 },
};

function time(fn: () => void, reps: number, warmup: number): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  return ms;
}

/** Runs one workload in this process and returns its figures. */
function runWorkload(w: Workload, repsOption: number | null, steps: number): BenchResult {
  manualSeed(0);
  const reps = repsOption ?? PLAN[w].reps;
  const warmup = PLAN[w].warmup;
  let fn: () => void;
  let flops: number;
  let images: number | null = null;
  if (w === 'W1') {
    const a = randn([1024, 1024]), b = randn([1024, 1024]);
    fn = () => { noGrad(() => a.matmul(b)); };
    flops = 2 * 1024 ** 3;
  } else if (w === 'W2' || w === 'W3') {
    const x = randn([32, 128, 16, 16], { requiresGrad: w === 'W3' });
    const wt = randn([128, 128, 3, 3], { requiresGrad: w === 'W3' });
    const fwd = 2 * 32 * 128 * 128 * 9 * 16 * 16;
    if (w === 'W2') {
      fn = () => { noGrad(() => conv2d(x, wt, null, { padding: 1 })); };
      flops = fwd;
    } else {
      const g = randn([32, 128, 16, 16]);
      fn = () => {
        x.grad = null;
        wt.grad = null;
        conv2d(x, wt, null, { padding: 1 }).backward(g);
      };
      flops = 3 * fwd;
    }
  } else {
    const model = resnet18({ numClasses: 10, width: 64, variant: w === 'W4' ? 'imagenet' : 'cifar' });
    const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const x = randn([32, 3, 32, 32]);
    const y = randint(0, 10, [32]);
    flops = 3 * 32 * modelForwardFlops(model);
    images = 32;
    fn = () => {
      opt.zeroGrad();
      crossEntropy(model.call(x), y).backward();
      opt.step();
    };
    if (steps > 0) {
      const marks = new Set([10, Math.round(steps / 4), Math.round(steps / 2), Math.round((3 * steps) / 4), steps]);
      const rssAt: Record<string, number> = {};
      const t: number[] = [];
      for (let s = 1; s <= steps; s++) {
        const t0 = performance.now();
        fn();
        t.push(performance.now() - t0);
        if (marks.has(s)) rssAt[s] = process.memoryUsage().rss / 2 ** 20;
      }
      const half = Math.round(steps / 2);
      const med = median(t);
      return {
        workload: w, threads: getNumThreads(), median_ms: med, min_ms: Math.min(...t), max_ms: Math.max(...t),
        gflops: flops / med / 1e6, images_per_s: (images * 1000) / med,
        peak_rss_mb: process.resourceUsage().maxRSS / 1024, rss_mb_at_step: rssAt,
        rss_growth_mb: rssAt[steps] - rssAt[10], rss_growth_second_half_mb: rssAt[steps] - rssAt[half],
      };
    }
  }
  const ms = time(fn, reps, warmup);
  const med = median(ms);
  void tensor;
  return {
    workload: w, threads: getNumThreads(), median_ms: med, min_ms: Math.min(...ms), max_ms: Math.max(...ms),
    gflops: flops / med / 1e6, images_per_s: images === null ? null : (images * 1000) / med,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  };
}

function fmtRow(r: BenchResult): string {
  const ips = r.images_per_s === null ? '' : `${r.images_per_s.toFixed(1)} img/s`;
  const growth = r.rss_growth_mb === undefined ? ''
    : `  rss growth ${r.rss_growth_mb.toFixed(1)} MB (second half ${r.rss_growth_second_half_mb!.toFixed(1)} MB)`;
  return `${r.workload}  ${DESCRIPTION[r.workload].padEnd(46)} threads ${r.threads}  median ${r.median_ms.toFixed(1).padStart(8)} ms  `
    + `(min ${r.min_ms.toFixed(1)}, max ${r.max_ms.toFixed(1)})  ${r.gflops.toFixed(2).padStart(7)} GFLOP/s  ${ips.padStart(12)}  peak RSS ${r.peak_rss_mb.toFixed(0)} MB${growth}`;
}

export interface BenchOptions {
  only: Workload[];
  threads: number[];
  reps: number | null;
  json: boolean;
  /** 0: the timed runs; N > 10: N training steps of W4/W5 with RSS samples. */
  steps: number;
  /** Internal: run this one workload in this process (the parent spawns one child per workload and thread count). */
  child: Workload | null;
}

function isWorkload(w: string): w is Workload {
  return (WORKLOADS as readonly string[]).includes(w);
}

/** A comma-separated list with no empty or repeated item. */
function list(flag: string, raw: string): string[] {
  const items = raw.split(',');
  if (raw === '' || items.some((x) => x === '')) throw new UsageError(`${flag} needs a comma-separated list with no empty item, got ${JSON.stringify(raw)}`);
  const dup = items.find((x, i) => items.indexOf(x) !== i);
  if (dup !== undefined) throw new UsageError(`${flag} lists ${dup} more than once, got ${JSON.stringify(raw)}`);
  return items;
}

/** The command line, checked before any work; bad input throws a UsageError whose message is the whole line. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions | 'help' {
  const values = parseFlags(argv, {
    only: { type: 'string' }, threads: { type: 'string' }, reps: { type: 'string' },
    json: { type: 'boolean' }, steps: { type: 'string' },
    child: { type: 'string' }, help: { type: 'boolean' },
  });
  if (values.help) return 'help';

  let only: Workload[] = [...WORKLOADS];
  if (values.only !== undefined) {
    only = list('--only', values.only).map((w) => {
      if (!isWorkload(w)) throw new UsageError(`--only: unknown workload ${JSON.stringify(w)} (expected some of ${WORKLOADS.join(',')})`);
      return w;
    });
  }
  let threads = [os.availableParallelism()];
  if (values.threads !== undefined) {
    threads = list('--threads', values.threads).map((t) => {
      const n = /^\d+$/.test(t) ? Number(t) : NaN;
      if (!(n >= 1 && n <= MAX_THREADS)) throw new UsageError(`--threads must be integers from 1 to ${MAX_THREADS}, got ${JSON.stringify(values.threads)}`);
      return n;
    });
  }
  let reps: number | null = null;
  if (values.reps !== undefined) {
    reps = /^\d+$/.test(values.reps) ? Number(values.reps) : NaN;
    if (!(reps >= 1 && Number.isSafeInteger(reps))) throw new UsageError(`--reps must be a positive integer, got ${JSON.stringify(values.reps)}`);
  }
  let steps = 0;
  if (values.steps !== undefined) {
    steps = /^\d+$/.test(values.steps) ? Number(values.steps) : NaN;
    if (!(Number.isSafeInteger(steps) && (steps === 0 || steps > 10))) throw new UsageError(`--steps must be 0 (off) or an integer > 10, got ${JSON.stringify(values.steps)}`);
  }
  let child: Workload | null = null;
  if (values.child !== undefined) {
    if (!isWorkload(values.child)) throw new UsageError(`--child: unknown workload ${JSON.stringify(values.child)} (expected one of ${WORKLOADS.join(',')})`);
    child = values.child;
  }
  if (steps > 0) {
    if (values.only === undefined) {
      only = ['W4', 'W5'];
    } else {
      const other = only.filter((w) => w !== 'W4' && w !== 'W5');
      if (other.length > 0) {
        throw new UsageError(`--steps ${steps} applies to W4 and W5 only, but --only ${values.only} lists ${other.join(',')} (run those without --steps)`);
      }
    }
    if (child !== null && child !== 'W4' && child !== 'W5') throw new UsageError(`--steps ${steps} applies to W4 and W5 only, got --child ${child}`);
    // The step run times every one of its steps: there are no repeated runs for --reps to count.
    if (reps !== null) throw new UsageError(`--reps does not apply with --steps ${steps} (which times each of its ${steps} steps); give one or the other`);
  }
  return { only, threads, reps, json: values.json === true, steps, child };
}

/** What the table's header says about the workload processes' malloc settings. */
function childEnvNote(): string {
  if (!hasGlibc()) return '';
  if (tuningOff(process.env)) return `; glibc malloc untuned (${OPT_OUT_VAR}=off)`;
  return `; glibc malloc: ${mallocSettings(tunedEnv(process.env) ?? process.env)}`;
}

async function main(argv: readonly string[]): Promise<void> {
  let opts: BenchOptions | 'help';
  try {
    opts = parseBenchArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    fail(oneLine(e));
  }
  if (opts === 'help') {
    console.log(usage());
    return;
  }
  const { only, threads, reps, steps, child, json } = opts;

  if (child !== null) {
    // Child process: one workload, one thread count, one JSON line.
    setNumThreads(threads[0]);
    // Workers compile their TypeScript on start; time the kernels, not the start-up.
    if (threads[0] > 1) waitForThreads();
    const r = runWorkload(child, reps, steps);
    console.log(JSON.stringify(r));
    await shutdownThreads();
    return;
  }
  if (!json) {
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    const malloc = childEnvNote();
    console.log(`tsgrad benchmarks: ${os.availableParallelism()} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; float32; median of ${reps ?? 'the peers\' number of'} runs after warm-up${malloc}`);
  }
  // Each workload runs in a new process with the malloc settings train-cifar runs with (lib/platform/malloc_tuning.ts).
  const childEnv = tunedEnv(process.env) ?? process.env;
  for (const w of only) {
    for (const t of threads) {
      // The child runs the same build as this process: dist/*.js after `npm run build`, or the .ts under ts-node.
      const loader = path.extname(__filename) === '.ts' ? ['-r', 'ts-node/register/transpile-only'] : [];
      const out = execFileSync(process.execPath, [
        ...loader, __filename,
        '--child', w, '--threads', String(t), ...(reps === null ? [] : ['--reps', String(reps)]), '--steps', String(steps),
      ], { encoding: 'utf-8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24, env: childEnv });
      const line = out.trim().split('\n').pop()!;
      const r = JSON.parse(line) as BenchResult;
      console.log(json ? JSON.stringify(r) : fmtRow(r));
    }
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`bench: ${oneLine(e)}`);
    process.exit(1);
  });
}
