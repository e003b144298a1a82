/**
 * The second Ctrl-C / SIGTERM exits at once; its message must tell the truth about what is on disk:
 * which checkpoint a --resume can use, or that there is none yet (it used to say "the last one is
 * intact" when no checkpoint had been written, so a user went looking for a file that did not exist).
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../scripts/train-cifar';
import type { StopState } from '../../scripts/train/trainer';
import { REPEAT_WINDOW_MS } from '../../scripts/train/signals';
import { Capture } from '../support/capture';

const ROOT = path.join(__dirname, '..', '..');

describe('scripts/train signal handling', function () {
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-signals-'));
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs installStopHandlers in a child, sends it two SIGINTs (further apart than a double delivery), returns its exit code and stderr. */
  function twoSignals(checkpoint: string | null): { status: number | null; stderr: string } {
    const child = path.join(dir, `two-signals-${checkpoint === null ? 'none' : 'one'}.ts`);
    fs.writeFileSync(child, `
      import { installStopHandlers } from ${JSON.stringify(path.join(ROOT, 'scripts', 'train', 'signals'))};
      const stop = { requested: null, checkpoint: ${JSON.stringify(checkpoint)} };
      installStopHandlers(stop, process.stderr, 'train-cifar');
      process.kill(process.pid, 'SIGINT');
      setTimeout(() => process.kill(process.pid, 'SIGINT'), ${REPEAT_WINDOW_MS + 500});
      setTimeout(() => process.exit(0), 20000);
    `);
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', child], { cwd: ROOT, encoding: 'utf-8', timeout: 120000 });
    return { status: r.status, stderr: r.stderr };
  }

  it('a second signal before any checkpoint says that there is none', () => {
    const r = twoSignals(null);
    expect(r.status, r.stderr).to.equal(130);
    const last = r.stderr.trim().split('\n').pop();
    expect(last).to.equal('train-cifar: second SIGINT: exiting now; no checkpoint has been written yet');
  });

  it('a second signal names the checkpoint that is intact', () => {
    const r = twoSignals('runs/x/checkpoint.safetensors');
    expect(r.status, r.stderr).to.equal(130);
    const last = r.stderr.trim().split('\n').pop();
    expect(last).to.equal('train-cifar: second SIGINT: exiting now without a new checkpoint; the last one, runs/x/checkpoint.safetensors, is intact');
  });

  /**
   * Runs installStopHandlers in a script that relaunches itself as train-cifar does, in a process
   * group of its own; `send` signals it; the script leaves with exit 0 1.5 s after the stop request.
   */
  function stopRequests(name: string, send: (pid: number, worker: number) => void): Promise<{ status: number | null; stderr: string }> {
    const child = path.join(dir, `${name}.ts`);
    fs.writeFileSync(child, `
      import { installStopHandlers } from ${JSON.stringify(path.join(ROOT, 'scripts', 'train', 'signals'))};
      import { relaunchWithTunedMalloc } from ${JSON.stringify(path.join(ROOT, 'lib', 'platform', 'malloc_tuning'))};
      function run(): void {
        const stop = { requested: null as string | null, checkpoint: null };
        installStopHandlers(stop, process.stderr, 'train-cifar');
        const poll = setInterval(() => {
          if (stop.requested !== null) { clearInterval(poll); setTimeout(() => process.exit(0), 1500); }
        }, 20);
        process.stdout.write('READY ' + process.pid + '\\n');
      }
      const r = relaunchWithTunedMalloc('train-cifar');
      if (r === null) run();
      else void r.then((code) => (code === null ? run() : void (process.exitCode = code)));
    `);
    const env = { ...process.env };
    delete env.TSGRAD_RELAUNCHED;
    delete env.GLIBC_TUNABLES;
    const p = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', child], { cwd: ROOT, env, detached: true });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { process.kill(-p.pid!, 'SIGKILL'); reject(new Error(`timed out: ${err}`)); }, 60000);
      let out = '';
      p.stdout.on('data', (d: Buffer) => {
        const before = out;
        out += d.toString();
        const m = /READY (\d+)\n/.exec(out);
        if (m && !/READY (\d+)\n/.test(before)) send(p.pid!, Number(m[1]));
      });
      p.on('exit', (status) => { clearTimeout(timer); resolve({ status, stderr: err }); });
    });
  }

  it('a signal sent to the whole process group (timeout(1), kill %1, systemd) is one stop request, not two', async () => {
    const r = await stopRequests('group', (pid) => process.kill(-pid, 'SIGTERM'));
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr.match(/SIGTERM received/g), r.stderr).to.have.length(1);
    expect(r.stderr).to.not.include('second');
  });

  it('so is a signal that arrives twice at once (pkill -f train-cifar matches the relaunching parent too)', async () => {
    const r = await stopRequests('twice', (pid, worker) => { process.kill(pid, 'SIGINT'); process.kill(worker, 'SIGINT'); });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr.match(/SIGINT received/g), r.stderr).to.have.length(1);
    expect(r.stderr).to.not.include('second');
  });

  it('the training loop keeps stop.checkpoint up to date: the resumed file first, then each one it writes', async () => {
    const out = path.join(dir, 'run');
    const small = ['--synthetic-train', '64', '--synthetic-test', '8', '--width', '2', '--epochs', '2', '--batch-size', '32', '--log-every', '100'];
    const seen: (string | null | undefined)[] = [];
    const stop: StopState = { requested: null, checkpoint: null };
    let code = await main([...small, '--out', out], { stdout: new Capture(), stderr: new Capture(), stop, onStep: () => seen.push(stop.checkpoint) });
    expect(code).to.equal(0);
    const ck = path.join(out, 'checkpoint.safetensors');
    // 2 steps an epoch: nothing written during epoch 1, the end-of-epoch-1 checkpoint during epoch 2.
    expect(seen).to.deep.equal([null, null, ck, ck]);
    expect(stop.checkpoint).to.equal(ck);

    // A run stopped after its first step has a checkpoint; resuming it starts from that file.
    const mid = path.join(dir, 'mid');
    const stop3: StopState = { requested: null, checkpoint: null };
    code = await main([...small, '--out', mid], { stdout: new Capture(), stderr: new Capture(), stop: stop3, onStep: () => { stop3.requested = 'SIGINT'; } });
    expect(code).to.equal(130);
    const midCk = path.join(mid, 'checkpoint.safetensors');
    expect(stop3.checkpoint).to.equal(midCk);
    const stop2: StopState = { requested: null, checkpoint: null };
    const seen2: (string | null | undefined)[] = [];
    code = await main(['--resume', midCk, '--out', path.join(dir, 'resumed')],
      { stdout: new Capture(), stderr: new Capture(), stop: stop2, onStep: () => seen2.push(stop2.checkpoint) });
    expect(code).to.equal(0);
    expect(seen2[0]).to.equal(midCk);
    expect(seen2[seen2.length - 1]).to.equal(path.join(dir, 'resumed', 'checkpoint.safetensors'));
  });
});
