/**
 * Per-layer gradient norms at initialisation, ResNet vs its plain twin (same layers, no shortcuts),
 * for 18 and 34 layers, same seed, same batch: the seed listing's claim that residual connections
 * keep gradients from vanishing, measured. Prints a table and writes an SVG chart.
 *   npm run gradient-flow [-- --width 16 --variant cifar --batch 32 --out gradient-flow.svg]
 */
import * as path from 'path';
import { crossEntropy, manualSeed, plain18, plain34, resnet18, resnet34, tensor, type ResNet } from '../index';
import { makeSyntheticDataset } from '../lib/data/synthetic';
import { bytesToFloats, normalizeTable } from '../lib/data/transforms';
import { dirExists, fileExists, writeFileAtomic } from '../lib/platform/fs';
import { Conv2d } from '../models/nn/conv';
import { PALETTE, renderPanels, type PanelSpec } from './lib/svg_chart';
import { EXIT_FAILURE, EXIT_USAGE, oneLine, parseFlags, UsageError } from './train/errors';

const USAGE = `usage: npm run gradient-flow -- [options]
  --width N         channels of the first stage, 1 to 512 (default 16)
  --variant V       imagenet | cifar (default cifar)
  --batch N         images in the batch, 2 to 65536 (default 32)
  --seed N          seed for initialisation and data (default 0)
  --out FILE        SVG chart to write (default gradient-flow.svg); an existing file is
                    replaced only if its name ends in .svg
Bad options print one line and exit with code 2, before anything is computed.`;

export interface GradientFlowOptions {
  width: number;
  variant: 'imagenet' | 'cifar';
  batch: number;
  seed: number;
  out: string;
}

/**
 * The command line, checked before any model is built (including --out's directory, so a typo
 * costs no computation); bad input throws a UsageError whose message is the whole line.
 */
export function parseGradientFlowArgs(argv: readonly string[]): GradientFlowOptions | 'help' {
  const values = parseFlags(argv, {
    width: { type: 'string', default: '16' }, variant: { type: 'string', default: 'cifar' },
    batch: { type: 'string', default: '32' }, seed: { type: 'string', default: '0' },
    out: { type: 'string', default: 'gradient-flow.svg' }, help: { type: 'boolean', default: false },
  });
  if (values.help) return 'help';
  // --width and --batch have train-cifar's bounds: beyond them the run would die deep inside (an
  // allocation, the synthetic set's size check) instead of naming the option.
  const int = (name: string, v: string, min: number, max?: number): number => {
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
      throw new UsageError(`--${name} must be an integer >= ${min}${max !== undefined ? ` and <= ${max}` : name === 'seed' ? ' and < 2^53' : ''}, got ${JSON.stringify(v)}`);
    }
    return n;
  };
  const width = int('width', values.width!, 1, 512);
  if (values.variant !== 'imagenet' && values.variant !== 'cifar') {
    throw new UsageError(`--variant must be imagenet or cifar, got ${JSON.stringify(values.variant)}`);
  }
  const batch = int('batch', values.batch!, 2, 65536);
  const seed = int('seed', values.seed!, 0);
  const out = values.out!;
  if (out === '' || dirExists(out)) throw new UsageError(`--out ${JSON.stringify(out)}: need a file name, not a directory`);
  const parent = path.dirname(path.resolve(out));
  if (!dirExists(parent)) throw new UsageError(`--out ${out}: the directory ${parent} does not exist`);
  // The chart replaces --out: an earlier chart may go, nothing else a user saved.
  if (fileExists(out) && !/\.svg$/i.test(out)) throw new UsageError(`--out ${out}: exists and is not an .svg chart; refusing to overwrite it`);
  return { width, variant: values.variant, batch, seed, out };
}

/** Gradient L2 norm of every conv weight, from the stem to the last block, plus the fc layer. */
function layerGradNorms(model: ResNet, images: Float32Array, labels: number[], batch: number): Array<{ name: string; norm: number }> {
  model.train();
  const x = tensor(images, { shape: [batch, 3, 32, 32] });
  crossEntropy(model.call(x), labels).backward();
  const rows: Array<{ name: string; norm: number }> = [];
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Conv2d) || name.includes('downsample')) continue;
    const g = m.weight.grad!.data;
    let s = 0;
    for (let i = 0; i < g.length; i++) s += g[i] * g[i];
    rows.push({ name, norm: Math.sqrt(s) });
  }
  const fg = model.fc.weight.grad!.data;
  let fs = 0;
  for (let i = 0; i < fg.length; i++) fs += fg[i] * fg[i];
  rows.push({ name: 'fc', norm: Math.sqrt(fs) });
  return rows;
}

function main(argv: readonly string[]): void {
  let parsed: GradientFlowOptions | 'help';
  try {
    parsed = parseGradientFlowArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`gradient-flow: ${oneLine(e)}`);
    process.exit(EXIT_USAGE);
  }
  if (parsed === 'help') {
    console.log(USAGE);
    return;
  }
  const o = parsed;
  const data = makeSyntheticDataset({ seed: o.seed, trainSize: o.batch, testSize: 10 }).train;
  const images = new Float32Array(o.batch * 3072);
  const table = normalizeTable();
  for (let i = 0; i < o.batch; i++) bytesToFloats(data.images, i * 3072, images, i * 3072, table);
  const labels = Array.from(data.labels.subarray(0, o.batch));
  const build = { resnet18, plain18, resnet34, plain34 };
  const results: Record<string, Array<{ name: string; norm: number }>> = {};
  for (const [name, make] of Object.entries(build)) {
    manualSeed(o.seed);
    results[name] = layerGradNorms(make({ width: o.width, variant: o.variant, numClasses: 10 }), images, labels, o.batch);
  }
  console.log(`Gradient norm of each conv layer's weight at initialisation (width ${o.width}, ${o.variant} variant, batch ${o.batch}, seed ${o.seed}, synthetic data):`);
  for (const [res, plain] of [['resnet18', 'plain18'], ['resnet34', 'plain34']]) {
    console.log(`\n| layer | ${res} | ${plain} |\n|---|---|---|`);
    results[res].forEach((r, i) => console.log(`| ${i}: ${r.name} | ${r.norm.toExponential(3)} | ${results[plain][i].norm.toExponential(3)} |`));
    const ratio = (rows: Array<{ norm: number }>): number => rows[0].norm / rows[rows.length - 2].norm;
    console.log(`\nfirst conv / last conv gradient norm: ${res} ${ratio(results[res]).toExponential(2)}, ${plain} ${ratio(results[plain]).toExponential(2)}`);
  }
  const panel = (res: string, plain: string): PanelSpec => ({
    title: `${res} vs ${plain}`,
    xLabel: 'layer (0 = stem conv, last = fc)',
    yLabel: 'log10 ‖∂loss/∂W‖',
    series: [
      { label: `${res} (residual)`, color: PALETTE[0], points: results[res].map((r, i) => [i, Math.log10(r.norm)] as const) },
      { label: `${plain} (no shortcuts)`, color: PALETTE[1], dashed: true, points: results[plain].map((r, i) => [i, Math.log10(r.norm)] as const) },
    ],
  });
  const svg = renderPanels([panel('resnet18', 'plain18'), panel('resnet34', 'plain34')],
    `Gradient flow at initialisation (width ${o.width}, ${o.variant}, batch ${o.batch})`);
  writeFileAtomic(o.out, svg, '--out');
  console.log(`\nchart written to ${o.out}`);
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`gradient-flow: error: ${oneLine(e)}`);
    process.exitCode = EXIT_FAILURE;
  }
}
