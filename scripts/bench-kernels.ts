/**
 * Micro-benchmark of the performance core: GEMM and conv2d passes at 1 and 2 threads.
 *
 *   npx ts-node scripts/bench-kernels.ts                      # W1, W2, W3 and ResNet18-cifar shapes
 *   npx ts-node scripts/bench-kernels.ts --only W1,W3 --threads 2 --kernel js --reps 7
 *   npx ts-node scripts/bench-kernels.ts --only resnet16,resnet64 --passes   # per-pass lines too
 *   npx ts-node scripts/bench-kernels.ts --only variants    # every micro-kernel tried, one thread
 *   npx ts-node scripts/bench-kernels.ts --raw              # contention guard off (see threads.ts)
 *
 * Each figure is the median of --reps timed runs (default 7) after warm-up runs; GFLOP/s counts
 * 2 flops per multiply-add of the GEMM the pass performs (the same count the peers use).
 * cpu/wall is process CPU time over wall time: near 2 with 2 threads only if both cores were free
 * (on a shared machine, check `uptime` first: another busy process halves the 2-thread figures).
 * Workloads: W1 matmul 1024x1024·1024x1024 float32; W2 conv2d forward batch 32, 128->128 channels,
 * 16x16, 3x3, stride 1, pad 1; W3 the same forward + input gradient + weight gradient;
 * resnet16/resnet64: every distinct conv of a CIFAR ResNet18 (3x3 stem) of width 16/64 at batch 32;
 * resnet-imagenet: every distinct conv of torchvision's ResNet18 on 32x32 inputs at batch 32 (W4);
 * variants: the GEMM of W1 and two conv-shaped GEMMs (W2's 128x1152x8192, ResNet width 16's
 * 16x144x32768) on each micro-kernel variant, one thread, dense operands.
 */
import { allocate, type FloatArray } from '../lib/core/dtype';
import {
  conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, conv2dGeometry, type Conv2dGeometry,
} from '../lib/kernels/conv2d';
import { gemm } from '../lib/kernels/gemm';
import { kernelFor, setGemmKernel, type GemmKernel } from '../lib/kernels/gemm_backend';
import { jsBackend } from '../lib/kernels/gemm_js';
import { DenseOperands, runPackedGemm, type MicroBackend } from '../lib/kernels/packed_gemm';
import { createWasmBackend } from '../lib/kernels/wasm_gemm';
import { setContentionGuard, setNumThreads, threadStats, waitForThreads } from '../lib/platform/threads';
import { Random } from '../lib/random';

interface Options {
  only: string[] | null;
  threads: number[];
  kernel: GemmKernel;
  reps: number;
  passes: boolean;
  raw: boolean;
}

function parseOptions(argv: string[]): Options {
  const opts: Options = { only: null, threads: [1, 2], kernel: 'wasm', reps: 7, passes: false, raw: false };
  for (let i = 0; i < argv.length; i++) {
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench-kernels: ${argv[i - 1]} needs a value`);
      return v;
    };
    switch (argv[i]) {
      case '--only': opts.only = next().split(','); break;
      case '--threads': opts.threads = next().split(',').map(Number); break;
      case '--kernel': opts.kernel = next() as GemmKernel; break;
      case '--reps': opts.reps = Number(next()); break;
      case '--passes': opts.passes = true; break;
      case '--raw': opts.raw = true; break;
      default: throw new Error(`bench-kernels: unknown option ${argv[i]}`);
    }
  }
  return opts;
}

const rng = new Random(7);

function randomArray(n: number): FloatArray {
  const a = allocate('float32', n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform() - 0.5;
  return a;
}

interface Timing {
  median: number;
  min: number;
  max: number;
  /** Process CPU time over wall time during the timed runs: ~2 when two threads really ran at once. */
  cpuRatio: number;
}

/** Median, min and max of `reps` timed calls after `warmup` untimed ones, in ms. */
function time(fn: () => void, reps: number, warmup = 2): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuRatio = (cpu.user + cpu.system) / 1000 / (performance.now() - wall0);
  ts.sort((a, b) => a - b);
  return { median: ts[Math.floor(ts.length / 2)], min: ts[0], max: ts[ts.length - 1], cpuRatio };
}

function report(name: string, threads: number, flops: number, t: Timing): void {
  const gf = flops / t.median / 1e6;
  console.log(`${name.padEnd(34)} threads ${threads}  ${t.median.toFixed(1).padStart(8)} ms  (min ${t.min.toFixed(1)}, max ${t.max.toFixed(1)})  ${gf.toFixed(1).padStart(6)} GFLOP/s  cpu/wall ${t.cpuRatio.toFixed(2)}`);
}

function convFlops(g: Conv2dGeometry): number {
  return 2 * g.N * g.O * (g.C / g.groups) * g.KH * g.KW * g.OH * g.OW;
}

interface ConvCase {
  name: string;
  g: Conv2dGeometry;
  x: FloatArray;
  w: FloatArray;
  b: FloatArray;
  gy: FloatArray;
}

function convCase(name: string, N: number, C: number, O: number, HW: number, k: number, stride: number): ConvCase {
  const g = conv2dGeometry([N, C, HW, HW], [O, C, k, k], { stride, padding: (k - 1) / 2 });
  return {
    name, g, x: randomArray(N * C * HW * HW), w: randomArray(O * C * k * k), b: randomArray(O),
    gy: randomArray(N * O * g.OH * g.OW),
  };
}

/** The distinct convs of a CIFAR ResNet18 (3x3 stem, no max-pool) of width w at batch 32. */
function resnetCases(w: number): ConvCase[] {
  return [
    convCase(`r${w} stem 3->${w} 32x32`, 32, 3, w, 32, 3, 1),
    convCase(`r${w} ${w}->${w} 32x32`, 32, w, w, 32, 3, 1),
    convCase(`r${w} ${w}->${2 * w} 32->16 s2`, 32, w, 2 * w, 32, 3, 2),
    convCase(`r${w} ${2 * w}->${2 * w} 16x16`, 32, 2 * w, 2 * w, 16, 3, 1),
    convCase(`r${w} 1x1 ${w}->${2 * w} s2`, 32, w, 2 * w, 32, 1, 2),
    convCase(`r${w} ${2 * w}->${4 * w} 16->8 s2`, 32, 2 * w, 4 * w, 16, 3, 2),
    convCase(`r${w} ${4 * w}->${4 * w} 8x8`, 32, 4 * w, 4 * w, 8, 3, 1),
    convCase(`r${w} ${4 * w}->${8 * w} 8->4 s2`, 32, 4 * w, 8 * w, 8, 3, 2),
    convCase(`r${w} ${8 * w}->${8 * w} 4x4`, 32, 8 * w, 8 * w, 4, 3, 1),
  ];
}

/** The distinct convs of torchvision's ResNet18 (7x7/2 stem, max-pool) on 32x32 inputs at batch 32 (W4). */
function imagenetResnetCases(): ConvCase[] {
  return [
    convCase('W4 stem 3->64 7x7 s2 32->16', 32, 3, 64, 32, 7, 2),
    convCase('W4 64->64 8x8', 32, 64, 64, 8, 3, 1),
    convCase('W4 64->128 8->4 s2', 32, 64, 128, 8, 3, 2),
    convCase('W4 128->128 4x4', 32, 128, 128, 4, 3, 1),
    convCase('W4 1x1 64->128 s2', 32, 64, 128, 8, 1, 2),
    convCase('W4 128->256 4->2 s2', 32, 128, 256, 4, 3, 2),
    convCase('W4 256->256 2x2', 32, 256, 256, 2, 3, 1),
    convCase('W4 256->512 2->1 s2', 32, 256, 512, 2, 3, 2),
    convCase('W4 512->512 1x1', 32, 512, 512, 1, 3, 1),
  ];
}

function benchConv(c: ConvCase, threads: number, reps: number, passes: boolean): number {
  const f = convFlops(c.g);
  const fwd = time(() => conv2dForward(c.x, c.w, c.b, c.g), reps);
  const bin = time(() => conv2dBackwardInput(c.gy, c.w, c.g), reps);
  const bw = time(() => conv2dBackwardWeight(c.gy, c.x, c.g), reps);
  if (passes) {
    report(`${c.name} fwd`, threads, f, fwd);
    report(`${c.name} bwd input`, threads, f, bin);
    report(`${c.name} bwd weight`, threads, f, bw);
  }
  const all: Timing = {
    median: fwd.median + bin.median + bw.median, min: fwd.min + bin.min + bw.min, max: fwd.max + bin.max + bw.max,
    cpuRatio: (fwd.cpuRatio + bin.cpuRatio + bw.cpuRatio) / 3,
  };
  report(`${c.name} fwd+bwd`, threads, 3 * f, all);
  return all.median;
}

/** One thread, every micro-kernel variant tried while tuning, on W1 and conv-shaped GEMMs. */
function benchVariants(reps: number): void {
  const variants: Array<[string, () => MicroBackend]> = [
    ['js 4x4 (float64 panels)', () => jsBackend],
    ['wasm f32 4x8 (default)', () => createWasmBackend({ lanes: 4, mr: 4, nr: 8, unroll: 1 }, 256, 128, 1024)],
    ['wasm f32 2x16', () => createWasmBackend({ lanes: 4, mr: 2, nr: 16, unroll: 1 }, 256, 128, 1024)],
    ['wasm f32 4x12', () => createWasmBackend({ lanes: 4, mr: 4, nr: 12, unroll: 1 }, 256, 128, 1020)],
    ['wasm f32 6x8', () => createWasmBackend({ lanes: 4, mr: 6, nr: 8, unroll: 1 }, 256, 120, 1024)],
    ['wasm f32 4x8 k unrolled x4', () => createWasmBackend({ lanes: 4, mr: 4, nr: 8, unroll: 4 }, 256, 128, 1024)],
    ['wasm f32 8x8', () => createWasmBackend({ lanes: 4, mr: 8, nr: 8, unroll: 1 }, 256, 128, 1024)],
  ];
  const shapes: Array<[string, number, number, number]> = [
    ['W1 1024x1024x1024', 1024, 1024, 1024], ['W2 GEMM 128x8192x1152', 128, 8192, 1152],
    ['r16 GEMM 16x32768x144', 16, 32768, 144],
  ];
  for (const [shape, M, N, K] of shapes) {
    const A = randomArray(M * K), B = randomArray(K * N), C = allocate('float32', M * N);
    for (const [name, make] of variants) {
      const be = make();
      const ops = new DenseOperands(M, N, K, false, false, A, 0, K, B, 0, N, false, C, 0, N, be);
      report(`${shape} ${name}`, 1, 2 * M * N * K, time(() => runPackedGemm(ops, be, 0, M, 0, N), Math.max(3, reps - 2)));
    }
  }
}

function main(): void {
  const opts = parseOptions(process.argv.slice(2));
  setGemmKernel(opts.kernel);
  setContentionGuard(!opts.raw);
  const want = (w: string): boolean => opts.only === null || opts.only.includes(w);
  console.log(`kernel: ${kernelFor('float32')} (float32), reps ${opts.reps}, Node ${process.version}`);
  if (want('variants') && opts.only !== null) {
    setNumThreads(1);
    benchVariants(opts.reps);
  }
  for (const threads of opts.threads) {
    setNumThreads(threads);
    if (threads > 1) waitForThreads();
    console.log(`--- ${threads} thread${threads > 1 ? 's' : ''} ---`);
    if (want('W1')) {
      const n = 1024;
      const A = randomArray(n * n), B = randomArray(n * n), C = allocate('float32', n * n);
      report('W1 matmul 1024^3', threads, 2 * n ** 3,
        time(() => gemm(false, false, n, n, n, A, 0, n, B, 0, n, false, C, 0, n), opts.reps));
    }
    if (want('W2') || want('W3')) {
      const c = convCase('W2/W3 conv 128->128 16x16', 32, 128, 128, 16, 3, 1);
      if (want('W2')) report('W2 conv fwd', threads, convFlops(c.g), time(() => conv2dForward(c.x, c.w, null, c.g), opts.reps));
      if (want('W3')) benchConv({ ...c, name: 'W3' }, threads, opts.reps, true);
    }
    if (want('resnet-imagenet')) {
      let total = 0;
      for (const c of imagenetResnetCases()) total += benchConv(c, threads, Math.max(3, Math.floor(opts.reps / 2)), opts.passes);
      console.log(`  W4-style ResNet18 distinct convs, fwd+bwd summed: ${total.toFixed(1)} ms`);
    }
    for (const w of [16, 64]) {
      if (!want(`resnet${w}`)) continue;
      let total = 0;
      for (const c of resnetCases(w)) total += benchConv(c, threads, Math.max(3, Math.floor(opts.reps / 2)), opts.passes);
      console.log(`  resnet${w} distinct convs, fwd+bwd summed: ${total.toFixed(1)} ms`);
    }
    if (threads > 1) console.log(`  contention guard fell back to one thread ${threadStats().throttles} times so far`);
  }
}

main();
