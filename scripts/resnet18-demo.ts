/**
 * The seed's main(): build ResNet18, print the model, run a random [2, 3, 32, 32] batch through it
 * and print the output shape — plus the parameter count and the time taken.
 *   npm run demo [-- --seed N]
 * Bad options print one line naming the option and exit with code 2, before anything is built.
 */
import { manualSeed, noGrad, randn, resnet18 } from '../index';
import { EXIT_FAILURE, EXIT_USAGE, oneLine, parseFlags, UsageError } from './train/errors';

const SCRIPT = 'resnet18-demo';

export interface DemoOptions {
  seed: number;
}

/**
 * The command line; bad input throws a UsageError whose message is the whole line. The seed is
 * any integer manualSeed takes exactly (negative too, as torch.manual_seed), written in decimal.
 */
export function parseDemoArgs(argv: readonly string[]): DemoOptions | 'help' {
  const values = parseFlags(argv, { seed: { type: 'string' }, help: { type: 'boolean' } });
  if (values.help) return 'help';
  const raw = values.seed ?? '0';
  const seed = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed must be an integer between -(2^53 - 1) and 2^53 - 1, got ${JSON.stringify(raw)}`);
  return { seed };
}

function main(argv: readonly string[]): number {
  let opts: DemoOptions | 'help';
  try {
    opts = parseDemoArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${SCRIPT}: ${oneLine(e)}`);
    return EXIT_USAGE;
  }
  if (opts === 'help') {
    console.log('usage: npm run demo [-- --seed N]\n  Builds torchvision\'s ResNet18 (1000 classes), prints it, and runs randn([2, 3, 32, 32]) through it in eval mode.');
    return 0;
  }
  manualSeed(opts.seed);
  const t0 = performance.now();
  const model = resnet18();
  const t1 = performance.now();
  console.log(model.toString());
  const x = randn([2, 3, 32, 32]);
  model.eval();
  const t2 = performance.now();
  const y = noGrad(() => model.call(x));
  const t3 = performance.now();
  console.log(`output shape: [${y.shape.join(', ')}]`);
  console.log(`parameters: ${model.numParameters().toLocaleString('en-US')}`);
  console.log(`build: ${(t1 - t0).toFixed(0)} ms, forward: ${(t3 - t2).toFixed(0)} ms`);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    console.error(`${SCRIPT}: error: ${oneLine(e)}`);
    process.exitCode = EXIT_FAILURE;
  }
}
