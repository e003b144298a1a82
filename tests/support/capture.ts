/**
 * A writable stand-in for stdout/stderr that keeps what the scripts print, for tests that call a
 * script's main() in-process. Not a spec file: mocha only runs the *.test.ts files under tests/.
 */
export class Capture {
  text = '';
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}
