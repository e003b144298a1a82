/**
 * Exit codes and the error kinds that map to them, shared by train-cifar.ts and evaluate.ts.
 * A script's main() catches these and prints exactly one line, so the code is what a caller
 * (a shell script, CI, a scheduler) branches on.
 */
import { parseArgs } from 'util';

/** parseArgs's option table (Node's ParseArgsOptionsConfig). */
type ParseArgsOptionsConfig = NonNullable<Parameters<typeof parseArgs>[0]>['options'] & object;

export const EXIT_OK = 0;
/** Something failed while running (an I/O error, a bug): not the user's input. */
export const EXIT_FAILURE = 1;
/** A wrong option, value or path, reported before any work starts. */
export const EXIT_USAGE = 2;
/** The loss became NaN or infinite; the last good checkpoint is kept. */
export const EXIT_DIVERGED = 3;
/** Stopped by SIGINT/SIGTERM after writing a checkpoint (128 + SIGINT, the shell's convention). */
export const EXIT_INTERRUPTED = 130;

/** Bad command-line input; the message is the whole line printed after the script's name. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Where a script writes text: process.stdout/stderr, or a capture in tests. */
export interface TextSink {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** One line for a thrown value: the message, with any multi-line detail folded onto it. */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0).join('; ');
}

/** parseArgs's error as one line naming the flag (its own messages span several lines). */
export function rewordParseError(e: unknown): string {
  const msg = oneLine(e);
  const flag = /'(-[^' ]*)/.exec(msg)?.[1];
  switch ((e as { code?: string }).code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${flag ?? msg} (see --help)`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const arg = /'([^']*)'/.exec(msg)?.[1] ?? msg;
      return `unexpected argument ${JSON.stringify(arg)}: every option is --name VALUE (see --help)`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (flag && /ambiguous/.test(msg)) return `${flag} needs a value; to give one that starts with a dash write ${flag}=VALUE`;
      if (flag && /does not take an argument/.test(msg)) return `${flag} is a switch and takes no value`;
      if (flag) return `${flag} needs a value`;
      return msg;
    default:
      return msg;
  }
}

/**
 * The scripts' command lines: util.parseArgs in strict mode with no positionals, its errors reworded
 * to one UsageError line, and a flag given twice refused (rejectRepeatedFlags). Returns the values.
 */
export function parseFlags<O extends ParseArgsOptionsConfig>(argv: readonly string[], options: O) {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false, tokens: true });
  } catch (e) {
    throw new UsageError(rewordParseError(e));
  }
  rejectRepeatedFlags(parsed.tokens);
  return parsed.values;
}

/**
 * parseArgs keeps the last of a repeated option; a flag given twice is more likely a mistake than an
 * override, so it is a UsageError. `tokens` are parseArgs's (run with `tokens: true`).
 */
export function rejectRepeatedFlags(tokens: readonly { kind: string; name?: string }[] | undefined): void {
  const seen = new Set<string>();
  for (const t of tokens ?? []) {
    if (t.kind !== 'option' || t.name === undefined) continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} is given more than once`);
    seen.add(t.name);
  }
}
