/**
 * Atomic file replacement: write to a temporary file in the target's directory, fsync, rename over the
 * target. Readers see the old file or the new one, never a half-written one, and a failure (or crash)
 * midway leaves the target untouched; on failure the temporary file is removed.
 */

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Writes all of `bytes` at the file's current position, looping over short writes (1 GiB at most each). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) {
    done += writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 30));
  }
}

/** The temporary name used while writing `path`: `<path>.tmp-<pid>-<random hex>`. */
export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** Creates `path` atomically from what `write` writes to the file descriptor it is given. */
export function writeFileAtomic(path: string, write: (fd: number) => void): void {
  const tempPath = tempPathFor(path);
  let fd: number | undefined = openSync(tempPath, 'wx');
  try {
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tempPath, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tempPath);
    } catch {
      // Already gone (or never created): nothing to clean up.
    }
    throw err;
  }
  syncDirectory(dirname(path));
}

/** Makes a rename durable. Best effort: some platforms cannot open or fsync a directory. */
export function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows and some file systems refuse; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
