// One pass over an image dataset to learn what registering it records: which layout it is (IDX
// or a folder by class), its files and their hashes, class names, the image shape, and every
// image decoded (the cache's content), official test images last.
import { stat } from 'node:fs/promises'
import { relative, resolve } from 'node:path'
import { describeFsError, refuseSystemPath } from '../../fs/user-files.js'
import type { ImageDatasetFormat } from '../../shared/images.js'
import { MAX_IMAGE_CLASSES } from '../../shared/images.js'
import { combinedSha256, sha256Stream } from '../hash.js'
import type { DatasetFileInfo } from '../scan.js'
import { ImageDatasetError } from './errors.js'
import { decodeImages, listImageFolder } from './folder.js'
import { findIdxFiles, readIdxFolder } from './idx.js'
import { defaultIdxClasses } from './known.js'

export interface ImageScanOptions {
  /** Names of labels 0..n-1 (IDX only: an image folder's classes are its subfolders). */
  classNames?: readonly string[]
  channels?: 1 | 3
}

export interface ImageScan {
  root: string
  format: ImageDatasetFormat
  files: DatasetFileInfo[]
  sha256: string
  bytes: number
  classes: string[]
  height: number
  width: number
  channels: 1 | 3
  /** n × height × width × channels. */
  pixels: Uint8Array
  labels: Uint8Array
  /** How many of the last images are an official test split (0 for an image folder). */
  officialTest: number
}

export async function scanImageDataset(path: string, opts: ImageScanOptions = {}): Promise<ImageScan> {
  const root = resolve(path)
  await refuseSystemPath(root, 'The image dataset folder')
  const st = await stat(root).catch((err: unknown) => Promise.reject(describeFsError(err, root, 'The image dataset folder')))
  if (!st.isDirectory()) {
    throw new ImageDatasetError(
      'unsupported',
      `${root} is a file: give the folder that holds it (an image dataset is a folder of the four MNIST-layout IDX files, or of one subfolder of images per class).`,
      root,
    )
  }
  return (await findIdxFiles(root)) ? scanIdx(root, opts) : scanFolder(root, opts)
}

async function scanIdx(root: string, opts: ImageScanOptions): Promise<ImageScan> {
  if (opts.channels === 3) throw new ImageDatasetError('unsupported', `${root} is an IDX dataset, which is grayscale: leave channels at 1.`, root)
  const named = opts.classNames ? [...opts.classNames] : null
  const idx = await readIdxFolder(root, { maxClasses: named ? named.length : MAX_IMAGE_CLASSES })
  let maxLabel = 0
  for (const part of [idx.train, idx.test]) for (const l of part.labels) if (l > maxLabel) maxLabel = l
  const classes = named ?? defaultIdxClasses(root, maxLabel + 1)
  const { rows, cols } = idx.train.images
  const pixels = new Uint8Array(idx.train.images.data.byteLength + idx.test.images.data.byteLength)
  pixels.set(idx.train.images.data, 0)
  pixels.set(idx.test.images.data, idx.train.images.data.byteLength)
  const labels = new Uint8Array(idx.train.labels.length + idx.test.labels.length)
  labels.set(idx.train.labels, 0)
  labels.set(idx.test.labels, idx.train.labels.length)
  const files = await describeFiles(root, idx.files)
  return { root, format: 'idx', files, ...totals(files), classes, height: rows, width: cols, channels: 1, pixels, labels, officialTest: idx.test.labels.length }
}

async function scanFolder(root: string, opts: ImageScanOptions): Promise<ImageScan> {
  if (opts.classNames) {
    throw new ImageDatasetError('unsupported', `${root} is a folder of images by class: its class names are its subfolders' names, so do not give class names.`, root)
  }
  const listing = await listImageFolder(root)
  const decoded = await decodeImages(listing.files, opts.channels ?? 'auto')
  const files = listing.files.map((file, i) => ({ path: relative(root, file), ...decoded.files[i]! }))
  return {
    root,
    format: 'image-folder',
    files,
    ...totals(files),
    classes: listing.classes,
    height: decoded.height,
    width: decoded.width,
    channels: decoded.channels,
    pixels: decoded.pixels,
    labels: listing.labels,
    officialTest: 0,
  }
}

async function describeFiles(root: string, paths: readonly string[]): Promise<DatasetFileInfo[]> {
  const out: DatasetFileInfo[] = []
  for (const file of paths) {
    const s = await stat(file).catch((err: unknown) => Promise.reject(describeFsError(err, file, 'The image dataset file')))
    out.push({ path: relative(root, file), bytes: s.size, mtimeMs: s.mtimeMs, sha256: await sha256Stream(file) })
  }
  return out
}

function totals(files: DatasetFileInfo[]): { sha256: string; bytes: number } {
  return { sha256: combinedSha256(files), bytes: files.reduce((sum, f) => sum + f.bytes, 0) }
}
