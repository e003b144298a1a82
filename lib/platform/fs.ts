/**
 * The one place below scripts/ that touches the file system, so the rest of lib/, autograd/ and
 * models/ stays browser-safe. Every error names the operation and the file.
 */
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
  try {
    return fs.statSync(file).size;
  } catch (e) {
    throw new Error(`${op}: cannot stat ${file}: ${(e as Error).message}`);
  }
}

export function readFileBytes(file: string, op = 'readFile'): Uint8Array {
  try {
    const b = fs.readFileSync(file);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new Error(`${op}: file not found: ${file}`);
    throw new Error(`${op}: cannot read ${file}: ${err.message}`);
  }
}

export function readTextFile(file: string, op = 'readFile'): string {
  return new TextDecoder('utf-8').decode(readFileBytes(file, op));
}

export function makeDir(dir: string, op = 'makeDir'): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new Error(`${op}: cannot create directory ${dir}: ${(e as Error).message}`);
  }
}

export function listDir(dir: string, op = 'listDir'): string[] {
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
 * Writes `data` to `file` atomically: the bytes go to a temporary file in the same directory,
 * are flushed to disk, and the temporary file is renamed over `file`. A crash at any point
 * leaves either the old file or the new one under the real name, never a partial file.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string, op = 'writeFileAtomic'): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`);
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'w');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf-8') : data;
    let off = 0;
    while (off < bytes.byteLength) off += fs.writeSync(fd, bytes, off, bytes.byteLength - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) {
      try { fs.closeSync(fd); } catch { /* already failing */ }
    }
    try { fs.unlinkSync(tmp); } catch { /* the temporary may not exist */ }
    throw new Error(`${op}: cannot write ${file}: ${(e as Error).message}`);
  }
  try {
    // Persist the rename itself; not every platform lets a directory be opened, hence the guard.
    const dfd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* best effort */ }
}
