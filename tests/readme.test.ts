import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..');
const MARKER = '<!-- api-example';

/** Every marked example: the fenced block right after each marker comment, and the output block after it. */
function readmeExamples(): { name: string; code: string; output: string }[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf-8');
  const parts = readme.split(MARKER).slice(1);
  if (parts.length === 0) throw new Error('README.md has no api-example marker');
  return parts.map((part, i) => {
    const name = /^\s*([\w-]*)/.exec(part.slice(0, part.indexOf('-->')))![1] || `example ${i + 1}`;
    const blocks = [...part.matchAll(/```(\w+)\n([\s\S]*?)```/g)];
    if (blocks.length < 2) throw new Error(`README.md: the api-example '${name}' needs a code block and an output block`);
    return { name, code: blocks[0][2], output: blocks[1][2] };
  });
}

describe('README', () => {
  const examples = readmeExamples();

  it('has the tensor example and the training-loop example', () => {
    expect(examples.map((e) => e.name)).to.include.members(['tensor', 'training-loop']);
  });

  // The run below is transpile-only (as the test suite runs), which does not check types; a reader
  // pastes the examples into a strict project, so they must also compile under the repo's tsconfig.
  it('the examples type-check under the repository\'s tsconfig (strict)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'readme-'));
    try {
      const files = examples.map(({ name, code }) => {
        const file = path.join(dir, `${name}.ts`);
        fs.writeFileSync(file, code.replace(/from 'tsgrad'/g, `from ${JSON.stringify(path.join(ROOT, 'index'))}`));
        return file;
      });
      const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, {
        ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); },
      })!;
      const program = ts.createProgram(files, { ...config.options, noEmit: true, rootDir: undefined });
      const problems = files.flatMap((file) => ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => {
        const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : null;
        return `${path.basename(file)}${at ? `:${at.line + 1}:${at.character + 1}` : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
      }));
      expect(problems).to.deep.equal([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const { name, code, output } of examples) {
    it(`the '${name}' example runs as written and prints what the README says`, () => {
      expect(code).to.include("from 'tsgrad'");
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'readme-'));
      const file = path.join(dir, 'example.ts');
      let printed: string;
      try {
        fs.writeFileSync(file, code.replace(/from 'tsgrad'/g, `from ${JSON.stringify(path.join(ROOT, 'index'))}`));
        printed = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', file], {
          cwd: ROOT, encoding: 'utf-8', env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') },
        });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      expect(printed).to.equal(output);
    });
  }
});
