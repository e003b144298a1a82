/** Helpers for the command-line tests. */
import { expect } from 'chai';
import { UsageError } from '../../scripts/train/errors';

/**
 * The one-line UsageError message `parse` gives for `args`; fails the test if `parse` accepts them,
 * throws something else, or gives a message of more than one line.
 */
export function usageErrorOf(parse: (argv: string[]) => unknown, args: string[]): string {
  try {
    parse(args);
  } catch (e) {
    expect(e, args.join(' ')).to.be.instanceOf(UsageError);
    const msg = (e as Error).message;
    expect(msg, args.join(' ')).to.not.include('\n');
    return msg;
  }
  throw new Error(`accepted: ${args.join(' ')}`);
}
