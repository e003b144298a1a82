import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..');

/** The fenced block right after the marker comment, and the output block after it. */
function readmeExample(): { code: string; output: string } {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf-8');
  const start = readme.indexOf('<!-- api-example');
  if (start < 0) throw new Error('README.md has no api-example marker');
  const blocks = [...readme.slice(start).matchAll(/```(\w+)\n([\s\S]*?)```/g)];
  return { code: blocks[0][2], output: blocks[1][2] };
}

describe('README', () => {
  it('the API example runs as written and prints what the README says', () => {
    const { code, output } = readmeExample();
    expect(code).to.include("from 'tsgrad'");
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'readme-')), 'example.ts');
    fs.writeFileSync(file, code.replace(/from 'tsgrad'/g, `from ${JSON.stringify(path.join(ROOT, 'index'))}`));
    const printed = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', file], {
      cwd: ROOT, encoding: 'utf-8', env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') },
    });
    expect(printed).to.equal(output);
  });
});
