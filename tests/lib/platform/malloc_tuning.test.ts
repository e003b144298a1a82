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
  foregroundFromStat, hasGlibc, mallocSettings, mergeTunables, OPT_OUT_VAR, RELAUNCHED_VAR, TUNED_MALLOC, tunedEnv, tuningOff,
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

  // The dynamic loader this process runs with lists the tunables as it parsed them from the environment.
  const ld = (): string | undefined => fs.readFileSync('/proc/self/maps', 'utf-8').split('\n')
    .map((l) => l.split(/\s+/)[5] ?? '').find((f) => /\/ld-linux[^/]*\.so/.test(f));
  const listed = (loader: string, env: NodeJS.ProcessEnv): Map<string, string> => new Map(
    spawnSync(loader, ['--list-tunables'], { encoding: 'utf-8', env }).stdout.split('\n')
      .map((l) => /^(\S+): (\S+)/.exec(l)).filter((m) => m !== null).map((m) => [m![1], m![2]]));

  describe('as glibc reads it (the dynamic loader lists its tunables)', () => {

    it("both settings take effect next to a user's value with empty entries and a stray name", function () {
      const loader = hasGlibc() ? ld() : undefined;
      if (loader === undefined || listed(loader, {}).size === 0) this.skip();
      const tuned = tunedEnv({ GLIBC_TUNABLES: ':glibc.malloc.arena_max=2::junk:' });
      const got = listed(loader!, tuned!);
      expect(got.get('glibc.malloc.arena_max')).to.equal('0x2');
      for (const [k, v] of TUNED_MALLOC) expect(got.get(k), k).to.equal(`0x${Number(v).toString(16)}`);
    });
  });

  describe('the older MALLOC_*_ variables', () => {
    it('a threshold the user set as MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ is left to them', function () {
      if (!hasGlibc()) this.skip();
      expect(tunedEnv({ MALLOC_TRIM_THRESHOLD_: '131072' })?.GLIBC_TUNABLES).to.equal(OURS[0]);
      expect(tunedEnv({ MALLOC_MMAP_THRESHOLD_: '65536', GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' })?.GLIBC_TUNABLES)
        .to.equal(`glibc.malloc.arena_max=2:${OURS[1]}`);
      expect(tunedEnv({ MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_TRIM_THRESHOLD_: '131072' }), 'nothing left to set').to.equal(null);
      expect(mallocSettings({ MALLOC_MMAP_THRESHOLD_: '65536', GLIBC_TUNABLES: OURS[1] })).to.equal(`GLIBC_TUNABLES=${OURS[1]} MALLOC_MMAP_THRESHOLD_=65536`);
    });

    it("and glibc then really uses the user's value (GLIBC_TUNABLES would win over it)", function () {
      const loader = hasGlibc() ? ld() : undefined;
      if (loader === undefined) this.skip();
      const user = { MALLOC_MMAP_THRESHOLD_: '65536' };
      const alone = listed(loader!, user).get('glibc.malloc.mmap_threshold');
      if (alone !== `0x${(65536).toString(16)}`) this.skip(); // a loader without --list-tunables
      expect(listed(loader!, tunedEnv(user) ?? user).get('glibc.malloc.mmap_threshold')).to.equal(alone);
    });
  });

  describe('foregroundFromStat', () => {
    it("compares the process group with the terminal's foreground group, past a command name with ') ' in it", () => {
      const stat = (pgrp: number, tpgid: number, comm = 'node') => `4242 (${comm}) S 4000 ${pgrp} 3900 34816 ${tpgid} 4194304 1 0 0 0`;
      expect(foregroundFromStat(stat(4100, 4100))).to.equal(true);
      expect(foregroundFromStat(stat(4100, 4200)), 'another group is in the foreground').to.equal(false);
      expect(foregroundFromStat(stat(4100, -1)), 'no controlling terminal').to.equal(false);
      expect(foregroundFromStat(stat(4100, 4100, 'a) S 1 2 3 4 5'))).to.equal(true);
      expect(foregroundFromStat(stat(4100, 4200, 'a) S 1 7 3 4 7'))).to.equal(false);
      expect(foregroundFromStat('garbage')).to.equal(null);
      if (fs.existsSync('/proc/self/stat')) expect(foregroundFromStat(fs.readFileSync('/proc/self/stat', 'utf-8'))).to.not.equal(null);
    });
  });

  describe('relaunchWithTunedMalloc (through runWithTunedMalloc, as the scripts call it)', () => {
    let dir = '';
    let child = '';
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-relaunch-'));
      child = path.join(dir, 'child.ts');
      // mode argv[2]: 'exit' N -> report and exit N; 'wait' -> report, then exit 7 on SIGTERM, 8 on SIGINT;
      // 'kill' SIG -> report, then die by SIG; 'count' -> report, print 'READY pid ppid', then print
      // 'INT n' / 'TERM n' for each signal and 'DONE n' 1.5 s after the first, and exit 0.
      fs.writeFileSync(child, `
        import { runWithTunedMalloc } from ${JSON.stringify(path.join(ROOT, 'lib', 'platform', 'malloc_tuning'))};
        function run(): void {
          const mode = process.argv[2];
          process.stdout.write(JSON.stringify({ pid: process.pid, ppid: process.ppid, tunables: process.env.GLIBC_TUNABLES ?? null,
            relaunched: process.env.${RELAUNCHED_VAR} ?? null, args: process.argv.slice(2) }) + '\\n');
          if (mode === 'exit') process.exitCode = Number(process.argv[3]);
          if (mode === 'kill') process.kill(process.pid, process.argv[3] as NodeJS.Signals);
          if (mode === 'wait') {
            process.on('SIGTERM', () => { process.stdout.write('TERM\\n'); process.exit(7); });
            process.on('SIGINT', () => { process.stdout.write('INT\\n'); process.exit(8); });
            setInterval(() => {}, 1000);
            process.stdout.write('READY\\n');
          }
          if (mode === 'count') {
            let n = 0;
            const on = (word: string) => () => {
              n++;
              process.stdout.write(word + ' ' + n + '\\n');
              if (n === 1) setTimeout(() => { process.stdout.write('DONE ' + n + '\\n'); process.exit(0); }, 1500);
            };
            process.on('SIGINT', on('INT'));
            process.on('SIGTERM', on('TERM'));
            setInterval(() => {}, 1000);
            process.stdout.write('READY ' + process.pid + ' ' + process.ppid + '\\n');
          }
        }
        runWithTunedMalloc('child', run);
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

    it('runs in place under a debugger (--inspect), which a second process would fight over', function () {
      const r = spawnSync(process.execPath, ['--inspect=127.0.0.1:0', '-r', 'ts-node/register/transpile-only', child, 'exit', '0'],
        { cwd: ROOT, encoding: 'utf-8', env: env(), timeout: 120000 });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.include('Debugger listening');
      expect(report(r.stdout).pid, 'the debugged process does the work').to.equal(r.pid);
      expect(r.stdout.trim().split('\n')).to.have.length(1);
    });

    it('runs in place when not started on a script file (-e, -p, a script on stdin)', function () {
      const load = `require(${JSON.stringify(child)})`;
      for (const [args, input] of [[['-e', load, 'exit', '0'], ''], [['-p', `${load}, ''`], ''], [['-', 'exit', '0'], `${load};`]] as const) {
        const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', ...args], { cwd: ROOT, encoding: 'utf-8', env: env(), input, timeout: 120000 });
        expect(r.status, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
        expect(report(r.stdout).pid, args.join(' ')).to.equal(r.pid);
        expect(report(r.stdout).relaunched, args.join(' ')).to.equal(null);
      }
    });

    it('dies by the signal the relaunched process died by (its own listeners for it gone first)', function () {
      for (const signal of ['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP']) {
        const r = run(['kill', signal]);
        expect(r.signal, `status ${r.status}: ${r.stderr}`).to.equal(signal);
      }
    });

    for (const [signal, code, word] of [['SIGTERM', 7, 'TERM'], ['SIGINT', 8, 'INT']] as const) {
      it(`passes ${signal} sent to it on to the relaunched process (no terminal attached)`, async function () {
        // detached: a session of its own, so no terminal is attached even when mocha runs in one.
        const p = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', child, 'wait'], { cwd: ROOT, env: env(), detached: true });
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

    describe('on a terminal (a pseudo-terminal made by python3)', function () {
      // Runs `sh -c CMD` as the session leader of a new pty. Once 'READY pid ppid' shows (on the pty or
      // in OUT), ACTION: 'ctrl-c' types ^C on the terminal; 'int-parent' sends SIGINT to the pid that
      // started (ppid: the relaunching parent). Prints {"out": everything seen} and exits.
      const DRIVER = `
import json, os, pty, re, select, signal, sys, time
action, cmd, outfile = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.execvp('sh', ['sh', '-c', cmd])
buf, sent, parent, deadline = '', False, None, time.time() + 30
def seen():
    try:
        with open(outfile) as f: return buf + f.read()
    except OSError: return buf
while time.time() < deadline and 'DONE' not in seen():
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try: d = os.read(fd, 4096)
        except OSError: d = b''
        if not d: break
        buf += d.decode(errors='replace')
    m = re.search(r'READY (\\d+) (\\d+)', seen())
    if m and not sent:
        parent = int(m.group(2)); sent = True
        if action == 'ctrl-c': os.write(fd, b'\\x03')
        else: os.kill(parent, signal.SIGINT)
time.sleep(0.3)
for g in [pid] + ([parent] if parent else []):
    try: os.killpg(g, signal.SIGKILL)
    except OSError: pass
print(json.dumps({'out': seen().replace('\\r', '')}))
`;
      let python = false;
      before(function () {
        python = spawnSync('python3', ['-c', 'import pty'], { encoding: 'utf-8' }).status === 0;
      });

      const onPty = (action: 'ctrl-c' | 'int-parent', shell: (node: string) => string): string => {
        const outFile = path.join(dir, `out-${action}-${Date.now()}.txt`);
        const node = [process.execPath, '-r', 'ts-node/register/transpile-only', child, 'count'].map((a) => `'${a}'`).join(' ');
        const r = spawnSync('python3', ['-c', DRIVER, action, shell(node).replace(/OUT/g, `'${outFile}'`), outFile],
          { cwd: ROOT, encoding: 'utf-8', env: env(), timeout: 150000 });
        expect(r.status, r.stderr).to.equal(0);
        return (JSON.parse(r.stdout) as { out: string }).out;
      };
      const signalsSeen = (out: string): string[] => out.split('\n').map((l) => l.replace('^C', '').trim()).filter((l) => /^(INT|TERM) \d+$/.test(l));

      it('Ctrl-C reaches the relaunched process once (the terminal signals it; the parent does not pass it on)', function () {
        if (!python) this.skip();
        const out = onPty('ctrl-c', (node) => node);
        expect(out, out).to.include('DONE 1');
        expect(signalsSeen(out), out).to.deep.equal(['INT 1']);
      });

      it('Ctrl-C reaches it once when no standard stream is the terminal (npm run train </dev/null >log 2>&1)', function () {
        if (!python) this.skip();
        const out = onPty('ctrl-c', (node) => `${node} </dev/null >OUT 2>&1`);
        expect(out, out).to.include('DONE 1');
        expect(signalsSeen(out), out).to.deep.equal(['INT 1']);
      });

      it('kill -INT to the parent of a background job on the terminal reaches the relaunched process', function () {
        if (!python) this.skip();
        // set -m: the job gets a process group of its own, not the terminal's foreground one.
        const out = onPty('int-parent', (node) => `set -m; ${node} & wait`);
        expect(out, out).to.include('DONE 1');
        expect(signalsSeen(out), out).to.deep.equal(['INT 1']);
      });
    });
  });
});
