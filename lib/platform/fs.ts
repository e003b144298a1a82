/**
 * The one place below scripts/ that touches the file system, so the rest of lib/, autograd/ and
 * models/ stays browser-safe. Every error names the operation and the file.
 */
import * as buffer from 'buffer';
import * as fs from 'fs';
import * as path from 'path';

export function fileExists(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function dirExists(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

export function fileSize(file: string, op = 'fileSize'): number {
  checkPath(file, op);
  try {
    return fs.statSync(file).size;
  } catch (e) {
    throw new Error(`${op}: cannot stat ${file}: ${(e as Error).message}`);
  }
}

/** The most bytes asked of one read() (Node's readSync, like readFileSync, stops at 2^31 − 1). */
const MAX_READ_BYTES = 2 ** 30;

/**
 * A file's bytes. A regular file is read in pieces of at most `maxRead` bytes into one array, so
 * files over 2 GiB (which writeFileAtomic writes, and readFileSync refuses) load too, up to the
 * largest array Node makes (buffer.constants.MAX_LENGTH). `maxRead` is there for tests.
 */
export function readFileBytes(file: string, op = 'readFile', maxRead = MAX_READ_BYTES): Uint8Array {
  checkPath(file, op);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw readError(op, file, e);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      // A pipe or device: its size is not known ahead, so read it to its end.
      const b = fs.readFileSync(fd);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
    const size = st.size;
    if (size > buffer.constants.MAX_LENGTH) {
      throw new Error(`${op}: cannot read ${file}: it has ${size} bytes, more than the ${buffer.constants.MAX_LENGTH} one array can hold`);
    }
    const out = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = fs.readSync(fd, out, off, Math.min(size - off, maxRead), off);
      if (n === 0) throw new Error(`${op}: cannot read ${file}: it ended at byte ${off} of ${size} (changed while being read?)`);
      off += n;
    }
    return out;
  } catch (e) {
    if (e instanceof Error && e.message.startsWith(`${op}: `)) throw e;
    throw readError(op, file, e);
  } finally {
    fs.closeSync(fd);
  }
}

function readError(op: string, file: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return new Error(`${op}: file not found: ${file}`);
  return new Error(`${op}: cannot read ${file}: ${err.message}`);
}

export function readTextFile(file: string, op = 'readFile'): string {
  return new TextDecoder('utf-8').decode(readFileBytes(file, op));
}

/**
 * Creates `dir` and any missing parents, one level at a time. Not `mkdirSync(dir, { recursive:
 * true })`: on a file system that refuses new entries while reporting the parent as present (Linux's
 * /proc), Node's recursive mkdir retries forever (ENOENT for the child, EEXIST for the parent), and
 * the caller hangs in a synchronous loop that no signal handler can interrupt.
 */
export function makeDir(dir: string, op = 'makeDir'): void {
  checkPath(dir, op);
  const missing: string[] = [];
  let cur = path.resolve(dir);
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(cur);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new Error(`${op}: cannot create directory ${dir}: ${(e as Error).message}`);
    }
    if (st) {
      if (!st.isDirectory()) throw new Error(`${op}: cannot create directory ${dir}: ${cur} exists and is not a directory`);
      break;
    }
    missing.push(cur);
    const parent = path.dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      fs.mkdirSync(missing[i]);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // Someone else made it in the meantime: fine if it is a directory now.
      if (err.code === 'EEXIST' && dirExists(missing[i])) continue;
      throw new Error(`${op}: cannot create directory ${dir}: ${err.message}`);
    }
  }
}

export function listDir(dir: string, op = 'listDir'): string[] {
  checkPath(dir, op);
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    throw new Error(`${op}: cannot list directory ${dir}: ${(e as Error).message}`);
  }
}

export function joinPath(...parts: string[]): string {
  return path.join(...parts);
}

/**
 * True when `a` and `b` name the same directory entry (the same directory, symbolic links in it
 * resolved, and the same base name), so that writing one replaces the other.
 */
export function sameDirEntry(a: string, b: string): boolean {
  return writeTarget(a) === writeTarget(b);
}

/**
 * The file a write to `file` lands in: `file` itself, or, when it is a symbolic link, the file the
 * link points to (followed to its end, as open() does: saving over a link updates its target and
 * keeps the link). Absolute, with symbolic links in the directory part resolved.
 */
export function writeTarget(file: string): string {
  let p = path.resolve(file);
  for (let hops = 0; hops < 40; hops++) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      break; // nothing there (yet): the path itself
    }
    if (!st.isSymbolicLink()) break;
    p = path.resolve(path.dirname(p), fs.readlinkSync(p));
  }
  let dir = path.dirname(p);
  try {
    dir = fs.realpathSync(dir);
  } catch { /* a directory that does not exist yet: the path as given */ }
  return path.join(dir, path.basename(p));
}

/**
 * The file primitives an atomic write is made of. Production code always uses Node's; tests
 * substitute one that fails at a chosen step to prove the cleanup path.
 */
export interface AtomicWriteIo {
  open(file: string): number;
  write(fd: number, bytes: Uint8Array, offset: number, length: number): number;
  fsync(fd: number): void;
  close(fd: number): void;
  rename(from: string, to: string): void;
  unlink(file: string): void;
  /** Sets the permission bits of the open temporary file (those of the file it replaces). */
  fchmod(fd: number, mode: number): void;
}

export const nodeAtomicWriteIo: AtomicWriteIo = {
  open: (file) => fs.openSync(file, 'wx'),
  write: (fd, bytes, offset, length) => fs.writeSync(fd, bytes, offset, length),
  fsync: (fd) => fs.fsyncSync(fd),
  close: (fd) => fs.closeSync(fd),
  rename: (from, to) => fs.renameSync(from, to),
  unlink: (file) => fs.unlinkSync(file),
  fchmod: (fd, mode) => fs.fchmodSync(fd, mode),
};

/** fchmod errors meaning "this file system has no permission bits", not an I/O failure. */
const CHMOD_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** The most bytes handed to one write() call (Node's writeSync takes at most 2^31 - 1). */
const MAX_WRITE_BYTES = 2 ** 30;

/** The longest prefix of `name` whose UTF-8 encoding fits in `maxBytes`, never splitting a character. */
function clipUtf8(name: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const ch of name) { // by code point: a surrogate pair stays whole
    const cp = ch.codePointAt(0) as number;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + n > maxBytes) break;
    bytes += n;
    end += ch.length;
  }
  return name.slice(0, end);
}

/**
 * Writes `data` to `file` atomically: the bytes go to a temporary file in the same directory,
 * are flushed to disk, and the temporary file is renamed over `file`. A crash at any point
 * leaves either the old file or the new one under the real name, never a partial file.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string, op = 'writeFileAtomic'): void {
  writeFileAtomicWith(nodeAtomicWriteIo, file, data, op);
}

/** `writeFileAtomic` over explicit primitives; exported so tests can inject a failing step. */
export function writeFileAtomicWith(io: AtomicWriteIo, file: string, data: Uint8Array | string, op = 'writeFileAtomic'): void {
  checkPath(file, op);
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
    throw new Error(`${op}: data for ${file} must be a Uint8Array or a string, got ${describe(data)}`);
  }
  // A symbolic link is written through: its target is replaced, and the link stays.
  const target = writeTarget(file);
  const dir = path.dirname(target);
  // Same directory as the target, because rename is only atomic within one file system. The
  // base name is clipped to 100 bytes of UTF-8 (NAME_MAX, 255 on Linux, counts bytes: 100 UTF-16
  // units of CJK are 300) at a character boundary, so a long target name cannot push the
  // temporary past NAME_MAX.
  const tmp = path.join(
    dir,
    `.${clipUtf8(path.basename(target), 100)}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`,
  );
  // A file being replaced keeps its permission bits: the temporary is created with the default
  // mode (0666 less the umask), so renaming it over a 0600 file would make that file world-readable.
  let mode: number | null = null;
  try {
    const st = fs.statSync(target);
    if (st.isFile()) mode = st.mode & 0o7777;
  } catch { /* no file there yet: the default mode is right */ }
  let fd: number | null = null;
  let created = false;
  try {
    fd = io.open(tmp);
    created = true;
    if (mode !== null) {
      try {
        io.fchmod(fd, mode);
      } catch (e) {
        // A file system without Unix permissions (CIFS, vfat, some FUSE mounts) refuses chmod;
        // its files have no bits to keep, and refusing the save over it would lose the checkpoint.
        if (!CHMOD_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
      }
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf-8') : data;
    let off = 0;
    while (off < bytes.byteLength) {
      // In pieces: Node's writeSync refuses a length above 2^31 - 1 (a file over 2 GiB).
      const n = io.write(fd, bytes, off, Math.min(bytes.byteLength - off, MAX_WRITE_BYTES));
      if (!(n > 0)) throw new Error(`write made no progress at byte ${off} of ${bytes.byteLength}`);
      off += n;
    }
    io.fsync(fd);
    const closing = fd;
    fd = null;
    io.close(closing);
    io.rename(tmp, target);
    created = false;
  } catch (e) {
    if (fd !== null) {
      try { io.close(fd); } catch { /* already failing; the original error is the useful one */ }
    }
    if (created) {
      try { io.unlink(tmp); } catch { /* nothing more can be done; report the original error */ }
    }
    throw new Error(`${op}: cannot write ${file}: ${(e as Error).message}`);
  }
  try {
    // Persist the rename itself; not every platform lets a directory be opened, hence the guard.
    const dfd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* best effort */ }
}

function checkPath(p: unknown, op: string): void {
  if (typeof p !== 'string' || p.length === 0) {
    throw new Error(`${op}: path must be a non-empty string, got ${describe(p)}`);
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'string') return JSON.stringify(x);
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return `${typeof x} ${String(x)}`;
}

/**
 * Reads `length` bytes of `file` starting at byte `start`, so a reader that needs the head of a
 * large file (the first N CIFAR-10 records) does not load all of it.
 */
export function readFileRange(file: string, start: number, length: number, op = 'readFileRange'): Uint8Array {
  if (!Number.isInteger(start) || start < 0 || !Number.isInteger(length) || length < 0) {
    throw new Error(`${op}: start and length must be non-negative integers, got start=${start}, length=${length} for ${file}`);
  }
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new Error(`${op}: file not found: ${file}`);
    throw new Error(`${op}: cannot open ${file}: ${err.message}`);
  }
  try {
    const out = new Uint8Array(length);
    let off = 0;
    while (off < length) {
      const n = fs.readSync(fd, out, off, length - off, start + off);
      if (n === 0) throw new Error(`${op}: ${file} ends after ${start + off} bytes, wanted bytes ${start}..${start + length - 1}`);
      off += n;
    }
    return out;
  } catch (e) {
    if ((e as Error).message.startsWith(`${op}:`)) throw e;
    throw new Error(`${op}: cannot read ${file}: ${(e as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
}
