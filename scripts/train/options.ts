/**
 * train-cifar's command line: one table of options drives parsing (util.parseArgs), validation
 * and the --help text, so the three cannot drift apart. Every problem becomes a UsageError whose
 * message names the option and the offending value.
 *
 * Defaults live in the table, not in parseArgs, so that `explicit` can tell which options the
 * user actually typed: a resumed run takes its configuration from the checkpoint and must refuse
 * a typed option that contradicts it.
 */
import { parseArgs } from 'util';
import type { DType } from '../../lib/core/dtype';
import type { Variant } from '../../models/resnet';
import { MAX_THREADS } from '../../lib/platform/threads';
import { rejectRepeatedFlags, rewordParseError, UsageError } from './errors';

export type ModelName = 'resnet18' | 'plain18';
export type OptimizerName = 'sgd' | 'adam' | 'adamw' | 'rmsprop' | 'adagrad' | 'nadam' | 'radam' | 'adamax' | 'adadelta';

/** --optimizer's choices, in the order --help lists them. */
export const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'adam', 'adamw', 'rmsprop', 'adagrad', 'nadam', 'radam', 'adamax', 'adadelta'];
export type ScheduleName = 'none' | 'step' | 'cosine' | 'onecycle';

/** Everything that determines the numbers a run produces; saved in config.json and every checkpoint. */
export interface TrainConfig {
  /** CIFAR-10 binary directory, or null for the synthetic set generated from `seed`. */
  data: string | null;
  syntheticTrain: number;
  syntheticTest: number;
  limitTrain: number | null;
  limitTest: number | null;
  model: ModelName;
  variant: Variant;
  width: number;
  dtype: DType;
  epochs: number;
  batchSize: number;
  evalBatchSize: number;
  optimizer: OptimizerName;
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  schedule: ScheduleName;
  stepEpochs: number;
  gamma: number;
  warmupEpochs: number;
  labelSmoothing: number;
  augment: boolean;
  clipGradNorm: number | null;
  seed: number;
}

/** How this invocation runs; changing these never changes the numbers. */
export interface RunOptions {
  out: string | null;
  resume: string | null;
  threads: number | null;
  logEvery: number;
  /** Test-only: poison the input of this global step (1-based) so the loss is NaN. */
  debugNanStep: number | null;
}

export interface ParsedCommandLine {
  help: boolean;
  config: TrainConfig;
  run: RunOptions;
  /** Config keys the user typed (as opposed to defaults). */
  explicit: Set<keyof TrainConfig>;
  /** Run options the user typed. */
  explicitRun: Set<keyof RunOptions>;
}

type Kind = 'int' | 'number' | 'string' | 'flag' | 'enum';

interface OptionSpec {
  flag: string;
  /** The TrainConfig or RunOptions field it sets. */
  key: keyof TrainConfig | keyof RunOptions | 'help';
  target: 'config' | 'run' | 'help';
  kind: Kind;
  group: string;
  valueName?: string;
  choices?: readonly string[];
  /** Inclusive bounds; `gt` is an exclusive lower bound, `lt` an exclusive upper bound. */
  min?: number;
  gt?: number;
  max?: number;
  lt?: number;
  /** A null default means "unset" (shown as the defaultText). */
  def: number | string | boolean | null;
  defaultText?: string;
  help: string;
  hidden?: boolean;
}

/**
 * --lr without a value: sgd, adam and adamw are tuned for the synthetic set (see SPECS); the others
 * take their torch 1.13 constructor's default, as a PyTorch user who names them expects.
 */
export const DEFAULT_LR: Record<OptimizerName, number> = {
  sgd: 0.05, adam: 0.008, adamw: 0.008, rmsprop: 1e-2, adagrad: 1e-2, nadam: 2e-3, radam: 1e-3, adamax: 2e-3, adadelta: 1.0,
};

/**
 * --momentum without a value: 0.9 for SGD (tuned), torch's 0 for RMSprop; the optimizers without a
 * momentum option (torch's Adam family has betas, Adagrad and Adadelta neither) record 0.
 */
export const DEFAULT_MOMENTUM: Record<OptimizerName, number> = {
  sgd: 0.9, adam: 0, adamw: 0, rmsprop: 0, adagrad: 0, nadam: 0, radam: 0, adamax: 0, adadelta: 0,
};

/** The optimizers whose torch class has a `momentum` option, which --momentum sets. */
const WITH_MOMENTUM: readonly OptimizerName[] = ['sgd', 'rmsprop'];

/** The defaults are tuned so that a bare `npm run train` reaches ≥ 90% on the synthetic test split in minutes on 2 cores. */
const SPECS: readonly OptionSpec[] = [
  { flag: 'data', key: 'data', target: 'config', kind: 'string', group: 'Data', valueName: 'DIR', def: null,
    defaultText: 'the synthetic set generated from --seed', help: 'CIFAR-10 binary directory (data_batch_1..5.bin, test_batch.bin, batches.meta.txt)' },
  { flag: 'synthetic-train', key: 'syntheticTrain', target: 'config', kind: 'int', group: 'Data', valueName: 'N', min: 1, max: 100000, def: 6000,
    help: 'training images of the synthetic set (without --data)' },
  { flag: 'synthetic-test', key: 'syntheticTest', target: 'config', kind: 'int', group: 'Data', valueName: 'N', min: 1, max: 100000, def: 1000,
    help: 'test images of the synthetic set (without --data)' },
  { flag: 'limit-train', key: 'limitTrain', target: 'config', kind: 'int', group: 'Data', valueName: 'N', min: 1, def: null, defaultText: 'all',
    help: 'use only the first N training images' },
  { flag: 'limit-test', key: 'limitTest', target: 'config', kind: 'int', group: 'Data', valueName: 'N', min: 1, def: null, defaultText: 'all',
    help: 'use only the first N test images' },
  { flag: 'no-augment', key: 'augment', target: 'config', kind: 'flag', group: 'Data', def: false,
    help: 'turn off random crop (4-pixel padding) and horizontal flip of training images' },

  { flag: 'model', key: 'model', target: 'config', kind: 'enum', group: 'Model', valueName: 'NAME', choices: ['resnet18', 'plain18'], def: 'resnet18',
    help: 'network: ResNet18, or the same layers without shortcuts' },
  { flag: 'variant', key: 'variant', target: 'config', kind: 'enum', group: 'Model', valueName: 'NAME', choices: ['imagenet', 'cifar'], def: 'imagenet',
    help: "stem: 'imagenet' 7x7/2 conv + max pool (about 16x cheaper at 32x32), 'cifar' 3x3/1 conv" },
  { flag: 'width', key: 'width', target: 'config', kind: 'int', group: 'Model', valueName: 'N', min: 1, max: 512, def: 16,
    help: 'channels of the first stage (stages are N, 2N, 4N, 8N; torchvision uses 64)' },
  { flag: 'dtype', key: 'dtype', target: 'config', kind: 'enum', group: 'Model', valueName: 'TYPE', choices: ['float32', 'float64'], def: 'float32',
    help: 'element type of weights and activations' },

  { flag: 'epochs', key: 'epochs', target: 'config', kind: 'int', group: 'Training', valueName: 'N', min: 1, max: 100000, def: 10,
    help: 'passes over the training set' },
  { flag: 'batch-size', key: 'batchSize', target: 'config', kind: 'int', group: 'Training', valueName: 'N', min: 2, max: 65536, def: 64,
    help: 'training batch size (an incomplete last batch is dropped)' },
  { flag: 'eval-batch-size', key: 'evalBatchSize', target: 'config', kind: 'int', group: 'Training', valueName: 'N', min: 1, max: 65536, def: 200,
    help: 'batch size for evaluating the test split' },
  { flag: 'optimizer', key: 'optimizer', target: 'config', kind: 'enum', group: 'Training', valueName: 'NAME', choices: OPTIMIZERS, def: 'adam',
    help: "update rule (torch's classes with their default betas, alpha, rho, eps)" },
  { flag: 'lr', key: 'lr', target: 'config', kind: 'number', group: 'Training', valueName: 'X', gt: 0, max: 100, def: null,
    defaultText: `${DEFAULT_LR.sgd} with sgd, ${DEFAULT_LR.adam} with adam/adamw, else torch's`,
    help: `peak learning rate (torch's defaults: ${(['rmsprop', 'adagrad', 'nadam', 'radam', 'adamax', 'adadelta'] as const).map((o) => `${o} ${DEFAULT_LR[o]}`).join(', ')})` },
  { flag: 'momentum', key: 'momentum', target: 'config', kind: 'number', group: 'Training', valueName: 'X', min: 0, lt: 1, def: null,
    defaultText: `${DEFAULT_MOMENTUM.sgd} with sgd, ${DEFAULT_MOMENTUM.rmsprop} with rmsprop`, help: 'momentum (sgd and rmsprop only)' },
  { flag: 'nesterov', key: 'nesterov', target: 'config', kind: 'flag', group: 'Training', def: false,
    help: 'Nesterov momentum (sgd only)' },
  { flag: 'weight-decay', key: 'weightDecay', target: 'config', kind: 'number', group: 'Training', valueName: 'X', min: 0, max: 1, def: 5e-4,
    help: "the optimizer's weightDecay for conv and linear weights (never for batch-norm parameters or biases): decoupled with adamw, an L2 term added to the gradient with the others, as torch" },
  { flag: 'schedule', key: 'schedule', target: 'config', kind: 'enum', group: 'Training', valueName: 'NAME', choices: ['none', 'step', 'cosine', 'onecycle'], def: 'onecycle',
    help: 'learning-rate schedule, stepped every batch' },
  { flag: 'step-epochs', key: 'stepEpochs', target: 'config', kind: 'int', group: 'Training', valueName: 'N', min: 1, def: null,
    defaultText: 'a third of --epochs', help: "--schedule step: multiply the lr by --gamma every N epochs" },
  { flag: 'gamma', key: 'gamma', target: 'config', kind: 'number', group: 'Training', valueName: 'X', gt: 0, max: 1, def: 0.1,
    help: '--schedule step: the factor' },
  { flag: 'warmup-epochs', key: 'warmupEpochs', target: 'config', kind: 'number', group: 'Training', valueName: 'X', min: 0, def: 0,
    help: 'linear warm-up from lr/(steps+1) to lr, then the schedule (with onecycle: the length of its rising phase, at least 2 steps; 0 leaves it at 30% of the run)' },
  { flag: 'label-smoothing', key: 'labelSmoothing', target: 'config', kind: 'number', group: 'Training', valueName: 'X', min: 0, lt: 1, def: 0,
    help: 'label smoothing of the training loss' },
  { flag: 'clip-grad-norm', key: 'clipGradNorm', target: 'config', kind: 'number', group: 'Training', valueName: 'X', gt: 0, def: null,
    defaultText: 'off', help: 'clip the global gradient norm to X' },
  { flag: 'seed', key: 'seed', target: 'config', kind: 'int', group: 'Training', valueName: 'N', min: 0, max: 2 ** 32 - 1, def: 0,
    help: 'seeds initialisation, shuffling, augmentation and the synthetic set' },

  { flag: 'out', key: 'out', target: 'run', kind: 'string', group: 'Run', valueName: 'DIR', def: null,
    defaultText: 'runs/<timestamp>, or the checkpoint\'s directory with --resume',
    help: 'where metrics.jsonl, curves.svg, config.json and checkpoints go (the default is a new directory: runs/<timestamp>-2 when another run started in the same second)' },
  { flag: 'resume', key: 'resume', target: 'run', kind: 'string', group: 'Run', valueName: 'CHECKPOINT', def: null,
    defaultText: 'off', help: 'continue the run saved in CHECKPOINT (its configuration is used)' },
  { flag: 'threads', key: 'threads', target: 'run', kind: 'int', group: 'Run', valueName: 'N', min: 1, max: MAX_THREADS, def: null,
    defaultText: 'one per core', help: 'threads used by the kernels' },
  { flag: 'log-every', key: 'logEvery', target: 'run', kind: 'int', group: 'Run', valueName: 'N', min: 1, def: 10,
    help: 'write a metrics record (and, without a terminal, a progress line) every N steps; a resumed run keeps its own' },
  { flag: 'debug-nan-step', key: 'debugNanStep', target: 'run', kind: 'int', group: 'Run', valueName: 'N', min: 1, def: null,
    help: 'test only: make the loss of global step N NaN', hidden: true },
  { flag: 'help', key: 'help', target: 'help', kind: 'flag', group: 'Run', def: false, help: 'show this help and exit' },
];

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INT_RE = /^[+-]?\d+$/;

function fail(message: string): never {
  throw new UsageError(message);
}

function describeBounds(s: OptionSpec): string {
  const parts: string[] = [];
  if (s.min !== undefined) parts.push(`>= ${s.min}`);
  if (s.gt !== undefined) parts.push(`> ${s.gt}`);
  if (s.max !== undefined) parts.push(`<= ${s.max}`);
  if (s.lt !== undefined) parts.push(`< ${s.lt}`);
  return parts.join(' and ');
}

function convert(s: OptionSpec, raw: string): number | string {
  const name = `--${s.flag}`;
  if (s.kind === 'enum') {
    if (!s.choices!.includes(raw)) fail(`${name} must be one of ${s.choices!.join(', ')}, got ${JSON.stringify(raw)}`);
    return raw;
  }
  if (s.kind === 'string') {
    if (raw.length === 0) fail(`${name} needs a non-empty value`);
    return raw;
  }
  const isInt = s.kind === 'int';
  if (!(isInt ? INT_RE : NUMBER_RE).test(raw.trim())) fail(`${name} must be ${isInt ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`);
  const v = Number(raw);
  if (!Number.isFinite(v) || (isInt && !Number.isSafeInteger(v))) fail(`${name} must be a finite ${isInt ? 'integer' : 'number'}, got ${JSON.stringify(raw)}`);
  const out = (s.min !== undefined && v < s.min) || (s.gt !== undefined && v <= s.gt) || (s.max !== undefined && v > s.max) || (s.lt !== undefined && v >= s.lt);
  if (out) fail(`${name} must be ${describeBounds(s)}, got ${raw}`);
  return v;
}

/**
 * Parses argv into a config with every default filled in. Cross-option checks that do not need
 * the file system are done here too; paths are checked by the caller (validatePaths).
 */
export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const s of SPECS) options[s.flag] = { type: s.kind === 'flag' ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false, tokens: true });
  } catch (e) {
    fail(rewordParseError(e));
  }
  rejectRepeatedFlags(parsed.tokens);

  const config: Record<string, unknown> = {};
  const run: Record<string, unknown> = {};
  const explicit = new Set<keyof TrainConfig>();
  const explicitRun = new Set<keyof RunOptions>();
  let help = false;
  for (const s of SPECS) {
    const raw = parsed.values[s.flag];
    let value: unknown;
    if (s.kind === 'flag') {
      // --no-augment sets augment to false; the other flags set their field to true.
      const given = raw === true;
      value = s.flag === 'no-augment' ? !given : given;
    } else if (raw === undefined) {
      value = s.def;
    } else {
      value = convert(s, raw as string);
    }
    if (s.target === 'help') help = raw === true;
    else if (s.target === 'config') config[s.key] = value;
    else run[s.key] = value;
    if (s.target === 'config' && raw !== undefined) explicit.add(s.key as keyof TrainConfig);
    if (s.target === 'run' && raw !== undefined) explicitRun.add(s.key as keyof RunOptions);
  }
  const cfg = config as unknown as TrainConfig;
  if (cfg.lr === null) cfg.lr = DEFAULT_LR[cfg.optimizer];
  if (cfg.momentum === null) cfg.momentum = DEFAULT_MOMENTUM[cfg.optimizer];
  if (cfg.stepEpochs === null) cfg.stepEpochs = Math.max(1, Math.floor(cfg.epochs / 3));
  const out: ParsedCommandLine = { help, config: cfg, run: run as unknown as RunOptions, explicit, explicitRun };
  // With --resume the dependent options are checked against the checkpoint's configuration
  // (the caller does it once the checkpoint is read), not against the defaults.
  if (!help && out.run.resume === null) checkCombinations(out.config, explicit);
  return out;
}

/** Why --momentum does not apply to an optimizer (its torch class has no momentum option). */
const NO_MOMENTUM: Record<OptimizerName, string> = {
  sgd: '', rmsprop: '',
  adam: "its betas are torch's 0.9, 0.999", adamw: "its betas are torch's 0.9, 0.999", nadam: "its betas are torch's 0.9, 0.999",
  radam: "its betas are torch's 0.9, 0.999", adamax: "its betas are torch's 0.9, 0.999",
  adagrad: 'Adagrad has no momentum', adadelta: "Adadelta has no momentum; its rho is torch's 0.9",
};

/**
 * Cross-option checks ("--gamma applies to --schedule step only", ...) of a resolved config and
 * the options given explicitly. For a resumed run `c` is the checkpoint's configuration.
 */
export function checkCombinations(c: TrainConfig, explicit: ReadonlySet<keyof TrainConfig>): void {
  if (explicit.has('momentum') && !WITH_MOMENTUM.includes(c.optimizer)) {
    fail(`--momentum applies to --optimizer sgd or rmsprop only, not ${c.optimizer} (${NO_MOMENTUM[c.optimizer]})`);
  }
  if (c.optimizer !== 'sgd' && explicit.has('nesterov')) fail(`--nesterov applies to --optimizer sgd only, not ${c.optimizer}`);
  if (c.nesterov && c.momentum === 0) fail('--nesterov needs --momentum > 0');
  if (c.data !== null) {
    if (explicit.has('syntheticTrain')) fail('--synthetic-train applies to the synthetic set only; it cannot be combined with --data');
    if (explicit.has('syntheticTest')) fail('--synthetic-test applies to the synthetic set only; it cannot be combined with --data');
  }
  if (c.warmupEpochs >= c.epochs) fail(`--warmup-epochs ${c.warmupEpochs} must be less than --epochs ${c.epochs}`);
  if (c.schedule !== 'step') {
    if (explicit.has('stepEpochs')) fail(`--step-epochs applies to --schedule step only, not ${c.schedule}`);
    if (explicit.has('gamma')) fail(`--gamma applies to --schedule step only, not ${c.schedule}`);
  }
  const train = Math.min(c.data === null ? c.syntheticTrain : 50000, c.limitTrain ?? Infinity);
  if (c.batchSize > train) fail(`--batch-size ${c.batchSize} is larger than the ${train} training images (the incomplete batch is dropped, so no step would run)`);
}

const HELP_WIDTH = 100;
const HELP_INDENT = 28;
const NBSP = '\u00a0';

/** Greedy word wrap; a word longer than `width` gets a line of its own. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** The --help text: every visible option with its value, default and meaning, grouped. */
export function helpText(): string {
  const lines: string[] = [
    'Usage: npm run train -- [options]',
    '       npx ts-node scripts/train-cifar.ts [options]',
    '',
    'Trains a ResNet18 (or its plain twin) on CIFAR-10 or on the built-in synthetic 10-class set,',
    'writing metrics.jsonl, curves.svg, config.json and a resumable checkpoint every epoch into --out.',
    'Ctrl-C or SIGTERM stops after the current step with a checkpoint (exit 130).',
    '',
  ];
  const groups = [...new Set(SPECS.map((s) => s.group))];
  for (const g of groups) {
    lines.push(`${g}:`);
    for (const s of SPECS) {
      if (s.group !== g || s.hidden) continue;
      const left = `  --${s.flag}${s.valueName ? ` ${s.valueName}` : ''}`;
      // The choices and the default are kept on one line each: non-breaking spaces until wrapped.
      const unit = (t: string): string => t.replace(/ /g, NBSP);
      let text = s.help;
      if (s.choices) text += ` ${unit(`(${s.choices.join(' | ')})`)}`;
      if (s.kind !== 'flag') text += ` ${unit(`[default: ${s.defaultText ?? String(s.def)}]`)}`;
      const body = wrap(text, HELP_WIDTH - HELP_INDENT).join(`\n${' '.repeat(HELP_INDENT)}`).replace(new RegExp(NBSP, 'g'), ' ');
      lines.push(left.length >= HELP_INDENT ? `${left}\n${' '.repeat(HELP_INDENT)}${body}` : `${left.padEnd(HELP_INDENT)}${body}`);
    }
    lines.push('');
  }
  lines.push('Exit codes: 0 done, 1 failure, 2 bad option or path, 3 loss became NaN/infinite, 130 interrupted.');
  return `${lines.join('\n')}\n`;
}

/** Flags (with --) of the config fields, for messages about a resumed run. */
export function flagOf(key: keyof TrainConfig): string {
  const s = SPECS.find((x) => x.key === key && x.target === 'config');
  return s ? `--${s.flag}` : key;
}

/** Checks a config read from a checkpoint with the same rules as the command line. */
export function validateSavedConfig(raw: unknown, source: string): TrainConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`${source}: the saved config is not an object`);
  const rec = raw as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const s of SPECS) {
    if (s.target !== 'config') continue;
    const v = rec[s.key];
    const bad = (why: string): never => fail(`${source}: saved config ${s.key} ${why}, got ${JSON.stringify(v) ?? 'nothing'}`);
    // Options without a default (data, limits, clipping) are saved as null when unset.
    const nullable = s.def === null && s.key !== 'lr' && s.key !== 'momentum' && s.key !== 'stepEpochs';
    if (v === null && nullable) {
      out[s.key] = null;
      continue;
    }
    if (s.kind === 'flag') {
      if (typeof v !== 'boolean') bad('must be a boolean');
    } else if (s.kind === 'enum') {
      if (typeof v !== 'string' || !s.choices!.includes(v)) bad(`must be one of ${s.choices!.join(', ')}`);
    } else if (s.kind === 'string') {
      if (typeof v !== 'string' || v.length === 0) bad('must be a non-empty string');
    } else {
      if (typeof v !== 'number' || !Number.isFinite(v) || (s.kind === 'int' && !Number.isSafeInteger(v))) bad(`must be ${s.kind === 'int' ? 'an integer' : 'a number'}`);
      const n = v as number;
      if ((s.min !== undefined && n < s.min) || (s.gt !== undefined && n <= s.gt) || (s.max !== undefined && n > s.max) || (s.lt !== undefined && n >= s.lt)) {
        bad(`must be ${describeBounds(s)}`);
      }
    }
    out[s.key] = v;
  }
  return out as unknown as TrainConfig;
}
