// Large tensors and checkpoints live as files beside the database, written so that a crash or a
// full disk never leaves a half-written file under the final name: temp file, fsync, rename,
// fsync of the folder. The database row that points at a file is written only after the rename.
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { dirname, basename, join } from 'node:path'

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

export function sha256File(path: string): string {
  return sha256(readFileSync(path))
}

/** Writes `chunks` to `path` atomically and returns the content's sha256. */
export function writeFileAtomic(path: string, chunks: Uint8Array | readonly Uint8Array[]): string {
  const parts = chunks instanceof Uint8Array ? [chunks] : chunks
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const hash = createHash('sha256')
  let fd: number
  try {
    fd = openSync(tmp, 'w', 0o644)
  } catch (err) {
    throw withDiskHint(err, path)
  }
  try {
    for (const part of parts) {
      let off = 0
      while (off < part.byteLength) off += writeSync(fd, part, off, part.byteLength - off)
      hash.update(part)
    }
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    rmSync(tmp, { force: true })
    throw withDiskHint(err, path)
  }
  closeSync(fd)
  try {
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw withDiskHint(err, path)
  }
  fsyncDir(dirname(path))
  return hash.digest('hex')
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  }
}

function withDiskHint(err: unknown, path: string): Error {
  const e = err as NodeJS.ErrnoException
  if (e?.code === 'ENOSPC') {
    return new Error(`Disk full while writing ${path}: free some space (nothing stored before was changed) and resume the run.`)
  }
  return e instanceof Error ? new Error(`Could not write ${path}: ${e.message}`) : new Error(`Could not write ${path}`)
}
