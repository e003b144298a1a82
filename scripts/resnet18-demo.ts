/**
 * The seed's main(): build ResNet18, print the model, run a random [2, 3, 32, 32] batch through it
 * and print the output shape — plus the parameter count and the time taken.
 *   npm run demo
 */
import { parseArgs } from 'util';
import { manualSeed, noGrad, randn, resnet18 } from '../index';

function main(): void {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string', default: '0' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run demo [-- --seed N]\n  Builds torchvision\'s ResNet18 (1000 classes), prints it, and runs randn([2, 3, 32, 32]) through it in eval mode.');
    return;
  }
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) {
    console.error(`resnet18-demo: --seed must be an integer, got ${values.seed}`);
    process.exit(2);
  }
  manualSeed(seed);
  const t0 = performance.now();
  const model = resnet18();
  const t1 = performance.now();
  console.log(model.toString());
  const x = randn([2, 3, 32, 32]);
  model.eval();
  const t2 = performance.now();
  const y = noGrad(() => model.forward(x));
  const t3 = performance.now();
  console.log(`output shape: [${y.shape.join(', ')}]`);
  console.log(`parameters: ${model.numParameters().toLocaleString('en-US')}`);
  console.log(`build: ${(t1 - t0).toFixed(0)} ms, forward: ${(t3 - t2).toFixed(0)} ms`);
}

main();
