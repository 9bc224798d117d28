// The decoded images of a registered dataset, kept as one uint8 file in the store's folder so
// training reads them in one go instead of decoding PNGs or gunzipping IDX files each time:
// n × height × width × channels pixel bytes, then n label bytes. Named by content (sha256 and
// channels), so registering the same files twice shares one file. Written to a temporary name,
// fsynced and renamed: a crash never leaves a half-written cache under the final name.
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export const IMAGE_CACHE_FOLDER = 'images'

export function imageCacheName(sha256: string, channels: number): string {
  return `${sha256.slice(0, 32)}-c${channels}.u8`
}

export async function writeImageCache(path: string, pixels: Uint8Array, labels: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'w', 0o644)
  try {
    await fh.writeFile(pixels)
    await fh.writeFile(labels)
    await fh.sync()
  } catch (err) {
    await fh.close()
    await rm(tmp, { force: true })
    throw new Error(`Could not write the image cache ${path}: ${(err as Error).message}${(err as NodeJS.ErrnoException).code === 'ENOSPC' ? ' (the disk is full: free some space and add the dataset again)' : ''}`, { cause: err })
  }
  await fh.close()
  await rename(tmp, path)
}

export async function readImageCache(path: string, count: number, imageBytes: number): Promise<{ pixels: Uint8Array; labels: Uint8Array }> {
  let raw: Buffer
  try {
    raw = await readFile(path)
  } catch (err) {
    throw new Error(`The image cache ${path} cannot be read (${(err as Error).message}): add the dataset again to rebuild it.`, { cause: err })
  }
  if (raw.byteLength !== count * (imageBytes + 1)) {
    throw new Error(`The image cache ${path} is ${raw.byteLength} bytes, not the ${count * (imageBytes + 1)} its record says: add the dataset again to rebuild it.`)
  }
  const all = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength)
  return { pixels: all.subarray(0, count * imageBytes), labels: all.subarray(count * imageBytes) }
}

/** Only the labels of a cache file (its last `count` bytes): a protected-set preview needs no pixels. */
export async function readImageCacheLabels(path: string, count: number, imageBytes: number): Promise<Uint8Array> {
  let handle
  try {
    handle = await open(path, 'r')
  } catch (err) {
    throw new Error(`The image cache ${path} cannot be read (${(err as Error).message}): add the dataset again to rebuild it.`, { cause: err })
  }
  try {
    const size = (await handle.stat()).size
    if (size !== count * (imageBytes + 1)) {
      throw new Error(`The image cache ${path} is ${size} bytes, not the ${count * (imageBytes + 1)} its record says: add the dataset again to rebuild it.`)
    }
    const labels = new Uint8Array(count)
    let done = 0
    while (done < count) {
      const { bytesRead } = await handle.read(labels, done, count - done, count * imageBytes + done)
      if (bytesRead === 0) throw new Error(`The image cache ${path} ended early: add the dataset again to rebuild it.`)
      done += bytesRead
    }
    return labels
  } finally {
    await handle.close()
  }
}
