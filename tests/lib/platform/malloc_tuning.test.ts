/**
 * The scripts' relaunch with glibc malloc settings (lib/platform/malloc_tuning.ts): how the
 * variable is merged, when nothing happens, and the relaunch itself through a small child script
 * (exit codes, signals passed on, death by signal, the opt-out).
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  hasGlibc, mergeTunables, OPT_OUT_VAR, RELAUNCHED_VAR, TUNED_MALLOC, tunedEnv, tuningOff,
} from '../../../lib/platform/malloc_tuning';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const OURS = TUNED_MALLOC.map(([k, v]) => `${k}=${v}`);

describe('malloc tuning (lib/platform/malloc_tuning)', () => {
  describe('mergeTunables', () => {
    it('sets both thresholds when GLIBC_TUNABLES is unset or empty', () => {
      expect(mergeTunables(undefined)).to.equal(OURS.join(':'));
      expect(mergeTunables('')).to.equal(OURS.join(':'));
      expect(OURS).to.deep.equal(['glibc.malloc.mmap_threshold=33554432', 'glibc.malloc.trim_threshold=1073741824']);
    });

    it("keeps the user's entries, and the user's value of a threshold wins", () => {
      expect(mergeTunables('glibc.malloc.arena_max=2')).to.equal(['glibc.malloc.arena_max=2', ...OURS].join(':'));
      expect(mergeTunables('glibc.malloc.mmap_threshold=131072'))
        .to.equal(`glibc.malloc.mmap_threshold=131072:${OURS[1]}`);
      expect(mergeTunables(OURS.join(':'))).to.equal(OURS.join(':'));
    });
  });

  describe('tunedEnv / tuningOff', () => {
    it(`is off for ${OPT_OUT_VAR}=off, 0, false or no (any case), on otherwise`, () => {
      for (const v of ['off', 'OFF', '0', 'false', ' no ']) expect(tuningOff({ [OPT_OUT_VAR]: v }), v).to.equal(true);
      for (const v of [undefined, '', 'on', '1']) expect(tuningOff({ [OPT_OUT_VAR]: v }), String(v)).to.equal(false);
      expect(tunedEnv({ PATH: '/bin', [OPT_OUT_VAR]: 'off' })).to.equal(null);
    });

    it('adds the tunables to a copy of the environment, and nothing when they are all there', function () {
      if (!hasGlibc()) {
        expect(tunedEnv({ PATH: '/bin' }), 'not glibc: nothing to do').to.equal(null);
        return;
      }
      const env = { PATH: '/bin', GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' };
      const tuned = tunedEnv(env);
      expect(tuned).to.deep.equal({ PATH: '/bin', GLIBC_TUNABLES: ['glibc.malloc.arena_max=2', ...OURS].join(':') });
      expect(env.GLIBC_TUNABLES, 'the given environment is untouched').to.equal('glibc.malloc.arena_max=2');
      expect(tunedEnv({ GLIBC_TUNABLES: OURS.join(':') })).to.equal(null);
    });
  });

  describe('relaunchWithTunedMalloc', () => {
    let dir = '';
    let child = '';
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-relaunch-'));
      child = path.join(dir, 'child.ts');
      // mode argv[2]: 'exit' N -> report and exit N; 'wait' -> report, then exit 7 on SIGTERM, 8 on SIGINT;
      // 'kill' -> report, then die by SIGKILL.
      fs.writeFileSync(child, `
        import { relaunchWithTunedMalloc } from ${JSON.stringify(path.join(ROOT, 'lib', 'platform', 'malloc_tuning'))};
        function run(): void {
          const mode = process.argv[2];
          process.stdout.write(JSON.stringify({ pid: process.pid, ppid: process.ppid, tunables: process.env.GLIBC_TUNABLES ?? null,
            relaunched: process.env.${RELAUNCHED_VAR} ?? null, args: process.argv.slice(2) }) + '\\n');
          if (mode === 'exit') process.exitCode = Number(process.argv[3]);
          if (mode === 'kill') process.kill(process.pid, 'SIGKILL');
          if (mode === 'wait') {
            process.on('SIGTERM', () => { process.stdout.write('TERM\\n'); process.exit(7); });
            process.on('SIGINT', () => { process.stdout.write('INT\\n'); process.exit(8); });
            setInterval(() => {}, 1000);
            process.stdout.write('READY\\n');
          }
        }
        const r = relaunchWithTunedMalloc('child');
        if (r === null) run();
        else void r.then((code) => (code === null ? run() : void (process.exitCode = code)));
      `);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
      const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
      delete e.GLIBC_TUNABLES;
      delete e[RELAUNCHED_VAR];
      if (!(OPT_OUT_VAR in extra)) delete e[OPT_OUT_VAR];
      return e;
    };
    const run = (args: string[], extra?: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', child, ...args], { cwd: ROOT, encoding: 'utf-8', env: env(extra), timeout: 120000 });
    const report = (stdout: string) => JSON.parse(stdout.split('\n')[0]) as { pid: number; ppid: number; tunables: string | null; relaunched: string | null; args: string[] };

    it('runs the script again with the tunables and the same arguments, and leaves with its exit code', function () {
      const r = run(['exit', '3']);
      expect(r.status, r.stderr).to.equal(3);
      const rep = report(r.stdout);
      expect(rep.args).to.deep.equal(['exit', '3']);
      if (!hasGlibc()) {
        expect(rep.pid, 'no relaunch without glibc').to.equal(r.pid);
        return;
      }
      expect(rep.ppid, 'the work ran in a child of the started process').to.equal(r.pid);
      expect(rep.tunables).to.equal(OURS.join(':'));
      expect(rep.relaunched).to.equal('1');
      expect(r.stdout.trim().split('\n'), 'one run only').to.have.length(1);
    });

    it(`runs in place with ${OPT_OUT_VAR}=off`, () => {
      const r = run(['exit', '0'], { [OPT_OUT_VAR]: 'off' });
      expect(r.status, r.stderr).to.equal(0);
      const rep = report(r.stdout);
      expect(rep.pid).to.equal(r.pid);
      expect(rep.tunables).to.equal(null);
      expect(rep.relaunched).to.equal(null);
    });

    it('dies by the signal the relaunched process died by', function () {
      const r = run(['kill']);
      expect(r.signal, `status ${r.status}: ${r.stderr}`).to.equal('SIGKILL');
    });

    for (const [signal, code, word] of [['SIGTERM', 7, 'TERM'], ['SIGINT', 8, 'INT']] as const) {
      it(`passes ${signal} sent to it on to the relaunched process (no terminal attached)`, async function () {
        const p = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', child, 'wait'], { cwd: ROOT, env: env() });
        let out = '';
        let err = '';
        p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
        const status = await new Promise<number | null>((resolve, reject) => {
          const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`no READY within 60 s: ${out} ${err}`)); }, 60000);
          p.stdout.on('data', (d: Buffer) => {
            const before = out;
            out += d.toString();
            if (!before.includes('READY') && out.includes('READY')) p.kill(signal);
          });
          p.on('exit', (c) => { clearTimeout(timer); resolve(c); });
        });
        expect(status, err).to.equal(code);
        expect(out).to.include(`${word}\n`);
        if (hasGlibc()) expect(report(out).ppid, 'the handler ran in the relaunched process').to.equal(p.pid);
      });
    }
  });
});
