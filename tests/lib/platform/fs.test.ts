import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import {
  AtomicWriteIo,
  listDir,
  makeDir,
  nodeAtomicWriteIo,
  readFileBytes,
  readTextFile,
  sameDirEntry,
  writeFileAtomic,
  writeFileAtomicWith,
} from '../../../lib/platform/fs';

/**
 * Node's primitives, except that `step` throws once it is reached (for 'write': after `okBytes`
 * bytes went through; for 'close': after really closing). `onFail` sees the moment of failure.
 */
function failingIo(step: 'open' | 'write' | 'fsync' | 'close' | 'rename', okBytes = 0, onFail: () => void = () => {}): AtomicWriteIo {
  const boom = (): never => {
    onFail();
    throw new Error(`simulated ${step} failure`);
  };
  let written = 0;
  return {
    ...nodeAtomicWriteIo,
    open: step === 'open' ? boom : nodeAtomicWriteIo.open,
    write: (fd, bytes, offset, length) => {
      if (step !== 'write') return nodeAtomicWriteIo.write(fd, bytes, offset, length);
      // Let part of the data reach the temporary file first, so the failure really is mid-write.
      if (written >= okBytes) boom();
      const n = nodeAtomicWriteIo.write(fd, bytes, offset, Math.min(length, okBytes - written));
      written += n;
      return n;
    },
    fsync: step === 'fsync' ? boom : nodeAtomicWriteIo.fsync,
    close: (fd) => {
      nodeAtomicWriteIo.close(fd);
      if (step === 'close') boom();
    },
    rename: step === 'rename' ? boom : nodeAtomicWriteIo.rename,
  };
}

describe('lib/platform/fs', () => {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-fs-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('writeFileAtomic', () => {
    it('creates a new file with exactly the given bytes', () => {
      const file = path.join(dir, 'a.bin');
      writeFileAtomic(file, new Uint8Array([0, 1, 2, 255]));
      expect([...readFileBytes(file)]).to.deep.equal([0, 1, 2, 255]);
      expect(listDir(dir)).to.deep.equal(['a.bin']);
    });

    it('replaces an existing file and leaves no temporary file behind', () => {
      const file = path.join(dir, 'state.json');
      fs.writeFileSync(file, 'old contents that are longer than the new ones');
      writeFileAtomic(file, '{"épsilon":1}');
      expect(readTextFile(file)).to.equal('{"épsilon":1}');
      expect(fs.readFileSync(file).length).to.equal(14); // é is two bytes in UTF-8
      expect(listDir(dir)).to.deep.equal(['state.json']);
    });

    it("keeps the permission bits of the file it replaces (a private 0600 checkpoint stays private)", () => {
      for (const mode of [0o600, 0o640, 0o755]) {
        const file = path.join(dir, `m${mode.toString(8)}.bin`);
        fs.writeFileSync(file, 'old');
        fs.chmodSync(file, mode);
        writeFileAtomic(file, new Uint8Array([7]));
        expect([...readFileBytes(file)]).to.deep.equal([7]);
        expect(fs.statSync(file).mode & 0o777, mode.toString(8)).to.equal(mode);
      }
      // A new file gets the process's default, as fs.writeFileSync gives it.
      const fresh = path.join(dir, 'fresh.bin');
      const reference = path.join(dir, 'reference.bin');
      writeFileAtomic(fresh, 'x');
      fs.writeFileSync(reference, 'x');
      expect(fs.statSync(fresh).mode & 0o777).to.equal(fs.statSync(reference).mode & 0o777);
    });

    it('still replaces the file where the file system refuses chmod (EPERM on CIFS/vfat mounts), but fails on a real I/O error', () => {
      const file = path.join(dir, 'ckpt.bin');
      const refusing = (code: string): AtomicWriteIo => ({
        ...nodeAtomicWriteIo,
        fchmod: () => {
          throw Object.assign(new Error(`${code}: simulated fchmod failure`), { code });
        },
      });
      for (const code of ['EPERM', 'ENOTSUP', 'EOPNOTSUPP']) {
        fs.writeFileSync(file, 'old'); // an existing file, so its mode is copied onto the temporary
        writeFileAtomicWith(refusing(code), file, `new ${code}`);
        expect(fs.readFileSync(file, 'utf-8')).to.equal(`new ${code}`);
        expect(listDir(dir)).to.deep.equal(['ckpt.bin']);
      }
      fs.writeFileSync(file, 'old');
      expect(() => writeFileAtomicWith(refusing('EIO'), file, 'new')).to.throw(Error, `writeFileAtomic: cannot write ${file}: EIO: simulated fchmod failure`);
      expect(fs.readFileSync(file, 'utf-8')).to.equal('old');
      expect(listDir(dir)).to.deep.equal(['ckpt.bin']);
    });

    it('writes through a symbolic link: the target gets the bytes and the link stays a link, as open() would', () => {
      const real = path.join(dir, 'store');
      fs.mkdirSync(real);
      const target = path.join(real, 'ckpt.bin');
      fs.writeFileSync(target, 'old');
      const link = path.join(dir, 'latest.bin');
      fs.symlinkSync(path.join('store', 'ckpt.bin'), link); // relative, resolved from the link's directory
      const chain = path.join(dir, 'chain.bin');
      fs.symlinkSync(link, chain); // a link to a link
      writeFileAtomic(chain, new Uint8Array([4, 2]));
      expect(fs.lstatSync(link).isSymbolicLink()).to.equal(true);
      expect(fs.lstatSync(chain).isSymbolicLink()).to.equal(true);
      expect([...readFileBytes(target)]).to.deep.equal([4, 2]);
      expect(listDir(real)).to.deep.equal(['ckpt.bin']);
      // A dangling link: its target is created.
      const dangling = path.join(dir, 'next.bin');
      fs.symlinkSync(path.join(real, 'new.bin'), dangling);
      writeFileAtomic(dangling, 'n');
      expect(fs.readFileSync(path.join(real, 'new.bin'), 'utf-8')).to.equal('n');
      expect(fs.lstatSync(dangling).isSymbolicLink()).to.equal(true);
      // sameDirEntry sees through the links too.
      expect(sameDirEntry(chain, target)).to.equal(true);
      expect(sameDirEntry(dangling, target)).to.equal(false);
    });

    it('writes only the viewed bytes of a Uint8Array that is a window on a larger buffer', () => {
      const file = path.join(dir, 'w.bin');
      const big = new Uint8Array([9, 9, 1, 2, 3, 9]);
      writeFileAtomic(file, big.subarray(2, 5));
      expect([...readFileBytes(file)]).to.deep.equal([1, 2, 3]);
    });

    it('replaces a file whose name is long in UTF-8 bytes (NAME_MAX counts bytes, not characters)', () => {
      // 80 CJK characters + ".safetensors" = 252 bytes: a valid name (Linux allows 255 bytes). The
      // temporary's name must fit too, or the open fails with ENAMETOOLONG and nothing can be saved.
      const base = `${'模'.repeat(80)}.safetensors`;
      expect(Buffer.byteLength(base)).to.equal(252);
      const file = path.join(dir, base);
      fs.writeFileSync(file, 'old');
      writeFileAtomic(file, new Uint8Array([1, 2]));
      expect([...readFileBytes(file)]).to.deep.equal([1, 2]);
      expect(listDir(dir)).to.deep.equal([base]);
      // Astral characters (two UTF-16 units each) are never cut in half in the temporary's name, and
      // that name stays within 255 bytes however the target's name is made up.
      for (const name of [`${'a'.repeat(99)}😀b.bin`, `${'😀'.repeat(62)}.bin`, `${'é'.repeat(120)}.x`, 'plain name with spaces.bin']) {
        expect(Buffer.byteLength(name)).to.be.at.most(255);
        const opened: string[] = [];
        const io: AtomicWriteIo = { ...nodeAtomicWriteIo, open: (f) => { opened.push(f); return nodeAtomicWriteIo.open(f); } };
        writeFileAtomicWith(io, path.join(dir, name), 'v');
        expect(fs.readFileSync(path.join(dir, name), 'utf-8')).to.equal('v');
        const tmp = path.basename(opened[0]);
        expect(Buffer.byteLength(tmp), tmp).to.be.at.most(255);
        expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(tmp), `lone surrogate in ${tmp}`).to.equal(false);
        expect(tmp.startsWith('.') && tmp.endsWith('.tmp')).to.equal(true);
      }
    });

    it('hands write() at most 2^31 - 1 bytes per call, so files over 2 GiB can be written (Node refuses longer writes)', () => {
      // Node's fs.writeSync throws ERR_OUT_OF_RANGE for a length above 2^31 - 1. The array is only
      // reserved (zero pages), and the injected write does not copy it, so this costs no memory.
      const total = 2 ** 31 + 16;
      const big = new Uint8Array(total);
      const lengths: number[] = [];
      const io: AtomicWriteIo = {
        ...nodeAtomicWriteIo,
        write: (_fd, bytes, offset, length) => {
          expect(bytes).to.equal(big);
          expect(offset).to.equal(lengths.reduce((a, b) => a + b, 0));
          lengths.push(length);
          return length;
        },
      };
      writeFileAtomicWith(io, path.join(dir, 'big.safetensors'), big);
      expect(lengths.reduce((a, b) => a + b, 0)).to.equal(total);
      expect(Math.max(...lengths)).to.be.at.most(2 ** 31 - 1);
      expect(listDir(dir)).to.deep.equal(['big.safetensors']);
    });

    for (const step of ['open', 'write', 'fsync', 'close', 'rename'] as const) {
      it(`keeps the old file intact and removes the temporary when ${step} fails`, () => {
        const file = path.join(dir, 'model.safetensors');
        fs.writeFileSync(file, 'OLD');
        const data = new Uint8Array(1000).fill(7);
        let atFailure: string[] = [];
        const io = failingIo(step, 300, () => {
          atFailure = fs.readdirSync(dir).sort();
        });
        expect(() => writeFileAtomicWith(io, file, data)).to.throw(
          Error,
          `writeFileAtomic: cannot write ${file}: simulated ${step} failure`,
        );
        expect(fs.readFileSync(file, 'utf-8')).to.equal('OLD');
        expect(listDir(dir)).to.deep.equal(['model.safetensors']);
        // Except when open itself failed, a temporary existed at the failure and was then removed.
        expect(atFailure.length).to.equal(step === 'open' ? 1 : 2);
        if (step === 'write') {
          const tmp = atFailure.find((f) => f !== 'model.safetensors') as string;
          expect(tmp.startsWith('.model.safetensors.') && tmp.endsWith('.tmp')).to.equal(true);
        }
      });
    }

    it('uses the caller-supplied operation name in its errors', () => {
      const file = path.join(dir, 'ckpt.bin');
      expect(() => writeFileAtomicWith(failingIo('write', 10), file, new Uint8Array(50), 'saveCheckpoint')).to.throw(
        Error,
        `saveCheckpoint: cannot write ${file}: simulated write failure`,
      );
      expect(listDir(dir)).to.deep.equal([]);
    });

    it('fails with the file named when the target directory does not exist', () => {
      const file = path.join(dir, 'missing', 'x.bin');
      expect(() => writeFileAtomic(file, 'x')).to.throw(Error, `writeFileAtomic: cannot write ${file}: `);
      expect(listDir(dir)).to.deep.equal([]);
    });

    it('cleans up after a real rename failure (target is a non-empty directory)', () => {
      const target = path.join(dir, 'taken');
      fs.mkdirSync(target);
      fs.writeFileSync(path.join(target, 'keep.txt'), 'keep');
      expect(() => writeFileAtomic(target, 'new')).to.throw(Error, `writeFileAtomic: cannot write ${target}: `);
      expect(fs.readFileSync(path.join(target, 'keep.txt'), 'utf-8')).to.equal('keep');
      expect(listDir(dir)).to.deep.equal(['taken']);
    });

    it('rejects a bad path or bad data with the argument named', () => {
      expect(() => writeFileAtomic('', 'x')).to.throw(Error, 'writeFileAtomic: path must be a non-empty string, got ""');
      const file = path.join(dir, 'y.bin');
      expect(() => writeFileAtomic(file, [1, 2] as unknown as Uint8Array)).to.throw(
        Error,
        `writeFileAtomic: data for ${file} must be a Uint8Array or a string, got Array`,
      );
      expect(listDir(dir)).to.deep.equal([]);
    });
  });

  describe('makeDir', () => {
    it('creates missing parents and accepts a directory that already exists', () => {
      const deep = path.join(dir, 'a', 'b', 'c');
      makeDir(deep);
      expect(fs.statSync(deep).isDirectory()).to.equal(true);
      makeDir(deep);
      makeDir(path.join(dir, 'a'));
      expect(listDir(path.join(dir, 'a'))).to.deep.equal(['b']);
    });

    it('names the path when a file stands where a directory should', () => {
      fs.writeFileSync(path.join(dir, 'f'), 'x');
      const target = path.join(dir, 'f', 'sub');
      expect(() => makeDir(target, '--out')).to.throw(
        Error, `--out: cannot create directory ${target}: ${path.join(dir, 'f')} exists and is not a directory`,
      );
    });

    it('fails with a message, instead of looping forever, where the parent refuses new entries (/proc)', function () {
      if (!fs.existsSync('/proc/self')) {
        this.skip(); // no /proc on this platform: nothing to refuse the mkdir
      }
      // In a child process with a time limit, so a regression (Node's recursive mkdir spins here in
      // a synchronous loop) fails this test instead of hanging the suite.
      const code = `require(${JSON.stringify(path.resolve(__dirname, '../../../lib/platform/fs'))}).makeDir('/proc/tsgrad-nope/run', '--out')`;
      const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', code], {
        encoding: 'utf-8', timeout: 60_000,
      });
      expect(r.signal, 'the child was killed by the time limit: makeDir looped').to.equal(null);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.contain('--out: cannot create directory /proc/tsgrad-nope/run: ENOENT');
    });
  });

  describe('readFileBytes', () => {
    it('reads a file in pieces into one array (files over 2 GiB, which readFileSync refuses, read the same way)', () => {
      const file = path.join(dir, 'ten.bin');
      const bytes = Buffer.from([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
      fs.writeFileSync(file, bytes);
      for (const maxRead of [1, 3, 4, 10, 1 << 30]) {
        const got = readFileBytes(file, 'readSafetensors', maxRead);
        expect(got).to.be.instanceOf(Uint8Array);
        expect([...got], `maxRead ${maxRead}`).to.deep.equal([...bytes]);
        // A fresh array of its own, not a view into Node's shared pool.
        expect(got.byteOffset).to.equal(0);
        expect(got.buffer.byteLength).to.equal(10);
      }
      fs.writeFileSync(file, '');
      expect(readFileBytes(file).length).to.equal(0);
    });

    it('names the file when it is a directory', () => {
      expect(() => readFileBytes(dir, 'readSafetensors')).to.throw(Error, `readSafetensors: cannot read ${dir}: EISDIR`);
    });

    it('names the missing file', () => {
      const file = path.join(dir, 'nope.bin');
      expect(() => readFileBytes(file, 'readSafetensors')).to.throw(Error, `readSafetensors: file not found: ${file}`);
    });
  });
});
