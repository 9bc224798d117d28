// The IDX format of MNIST and Fashion-MNIST (plain or gzip-compressed), read and checked:
// a big-endian header (two zero bytes, a type code, the number of dimensions, then each
// dimension as a uint32) followed by the data. Only unsigned bytes (type 0x08) occur in these
// sets: images are idx3 (n × rows × cols, magic 0x00000803), labels idx1 (n, magic 0x00000801).
// Files are read with async fs and gunzipped on libuv's thread pool, so the server's event loop
// only runs the O(n) label check.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gunzip as gunzipCb } from 'node:zlib'
import { describeFsError, readRegularFile } from '../../fs/user-files.js'
import { ImageDatasetError } from './errors.js'

const gunzip = promisify(gunzipCb)

export const IDX_IMAGES_MAGIC = 0x00000803
export const IDX_LABELS_MAGIC = 0x00000801

/** The four files of the MNIST layout, by split; each may also end in .gz. */
export const IDX_FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const

export interface IdxImages {
  /** n × rows × cols bytes, row-major. */
  data: Uint8Array
  count: number
  rows: number
  cols: number
}

export interface IdxPart {
  images: IdxImages
  labels: Uint8Array
  /** The two files' paths as found (with .gz when compressed). */
  files: { images: string; labels: string }
}

export interface IdxFolder {
  train: IdxPart
  test: IdxPart
  /** Every file read, absolute, train images first. */
  files: string[]
}

const SPEC_HINT = 'IDX files as distributed with MNIST and Fashion-MNIST'

/** Parses an idx3-ubyte image file's bytes; `file` names it in errors. */
export function parseIdxImages(bytes: Uint8Array, file: string): IdxImages {
  const { dims, offset } = parseHeader(bytes, file, IDX_IMAGES_MAGIC, 3, 'image')
  const [count, rows, cols] = dims as [number, number, number]
  if (rows === 0 || cols === 0) throw new ImageDatasetError('unreadable', `${file} says its images are ${rows}×${cols} pixels: an image needs at least one pixel. Download the file again.`, file)
  checkLength(bytes, file, offset, count * rows * cols, `${count} images of ${rows}×${cols}`)
  return { data: bytes.subarray(offset), count, rows, cols }
}

/** Parses an idx1-ubyte label file's bytes. */
export function parseIdxLabels(bytes: Uint8Array, file: string): Uint8Array {
  const { dims, offset } = parseHeader(bytes, file, IDX_LABELS_MAGIC, 1, 'label')
  checkLength(bytes, file, offset, dims[0]!, `${dims[0]} labels`)
  return bytes.subarray(offset)
}

function parseHeader(bytes: Uint8Array, file: string, magic: number, ndim: number, what: string): { dims: number[]; offset: number } {
  const wrong = `Use the ${what} file (idx${ndim}-ubyte) of the set, as downloaded; ${SPEC_HINT} start with 0x${magic.toString(16).padStart(8, '0')}.`
  if (bytes.byteLength < 4) throw new ImageDatasetError('unreadable', `${file} is ${bytes.byteLength} bytes long, too short for an IDX header: it is truncated. ${wrong}`, file)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const found = view.getUint32(0)
  if (found !== magic) {
    const detail =
      found >>> 16 !== 0 || view.getUint8(3) === 0
        ? 'it is not an IDX file'
        : view.getUint8(2) !== 0x08
          ? `its data type is 0x${view.getUint8(2).toString(16)}, not unsigned bytes (0x08)`
          : `it has ${view.getUint8(3)} dimensions, not ${ndim}`
    throw new ImageDatasetError('unreadable', `${file} has the wrong magic number 0x${found.toString(16).padStart(8, '0')} (${detail}). ${wrong}`, file)
  }
  const offset = 4 + 4 * ndim
  if (bytes.byteLength < offset) throw new ImageDatasetError('unreadable', `${file} is ${bytes.byteLength} bytes long, shorter than its ${offset}-byte header: it is truncated. Download it again.`, file)
  const dims: number[] = []
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i))
  return { dims, offset }
}

function checkLength(bytes: Uint8Array, file: string, offset: number, expected: number, what: string): void {
  const have = bytes.byteLength - offset
  if (have < expected) {
    throw new ImageDatasetError(
      'unreadable',
      `${file} is truncated: its header promises ${what} (${expected.toLocaleString('en-US')} bytes of data) but it holds ${have.toLocaleString('en-US')}. Download it again (an interrupted download or copy leaves such a file).`,
      file,
    )
  }
  if (have > expected) {
    throw new ImageDatasetError(
      'unreadable',
      `${file} is ${(have - expected).toLocaleString('en-US')} bytes longer than its header says (${what}): it is not a well-formed IDX file. Download it again.`,
      file,
    )
  }
}

/** Which IDX files a folder holds, by their MNIST names, plain or .gz; null when none. */
export async function findIdxFiles(dir: string): Promise<{ train: { images: string; labels: string }; test: { images: string; labels: string } } | null> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    throw describeFsError(err, dir, 'The image dataset folder')
  }
  const present = new Set(names)
  const pick = (base: string): string | null => (present.has(base) ? base : present.has(`${base}.gz`) ? `${base}.gz` : null)
  const wanted = [IDX_FILES.train.images, IDX_FILES.train.labels, IDX_FILES.test.images, IDX_FILES.test.labels]
  const found = wanted.map(pick)
  if (found.every((f) => f === null)) return null
  const missing = wanted.filter((_, i) => found[i] === null)
  if (missing.length > 0) {
    throw new ImageDatasetError(
      'missing',
      `${dir} holds some IDX files but not ${missing.join(', ')} (plain or .gz): an IDX dataset needs all four files of the MNIST layout (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte). Add the missing ones.`,
      dir,
    )
  }
  const [ti, tl, si, sl] = found.map((f) => join(dir, f!)) as [string, string, string, string]
  return { train: { images: ti, labels: tl }, test: { images: si, labels: sl } }
}

async function readIdxFile(file: string): Promise<Uint8Array> {
  // Regular files only: a FIFO named like an IDX file is refused, not waited on.
  const raw = await readRegularFile(file, { what: 'The IDX file' })
  if (!file.endsWith('.gz')) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength)
  try {
    const out = await gunzip(raw)
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  } catch (err) {
    throw new ImageDatasetError(
      'unreadable',
      `${file} is not a valid gzip file (${(err as Error).message}): it is truncated or corrupt. Download it again, or put the uncompressed file (without .gz) in its place.`,
      file,
      { cause: err },
    )
  }
}

async function readPart(files: { images: string; labels: string }): Promise<IdxPart> {
  const images = parseIdxImages(await readIdxFile(files.images), files.images)
  const labels = parseIdxLabels(await readIdxFile(files.labels), files.labels)
  if (labels.length !== images.count) {
    throw new ImageDatasetError(
      'unreadable',
      `${files.labels} holds ${labels.length.toLocaleString('en-US')} labels but ${files.images} holds ${images.count.toLocaleString('en-US')} images: each image needs one label. Use the label file that belongs to these images.`,
      files.labels,
    )
  }
  return { images, labels, files }
}

/**
 * Reads and checks an MNIST-layout folder: magic numbers, dimensions, lengths against the
 * headers, one label per image, the same image size in both splits, and every label below
 * `maxClasses` (else the file and the first bad label are named).
 */
export async function readIdxFolder(dir: string, opts: { maxClasses?: number } = {}): Promise<IdxFolder> {
  const found = await findIdxFiles(dir)
  if (!found) {
    throw new ImageDatasetError('missing', `${dir} holds no IDX files (train-images-idx3-ubyte and the rest, plain or .gz).`, dir)
  }
  const train = await readPart(found.train)
  const test = await readPart(found.test)
  if (train.images.rows !== test.images.rows || train.images.cols !== test.images.cols) {
    throw new ImageDatasetError(
      'unreadable',
      `${test.files.images} holds ${test.images.rows}×${test.images.cols} images but ${train.files.images} holds ${train.images.rows}×${train.images.cols}: both splits must have one image size. Use the test files of the same dataset.`,
      test.files.images,
    )
  }
  const maxClasses = opts.maxClasses ?? 256
  for (const part of [train, test]) {
    const labels = part.labels
    for (let i = 0; i < labels.length; i++) {
      if (labels[i]! >= maxClasses) {
        throw new ImageDatasetError(
          'unreadable',
          `${part.files.labels}: label ${labels[i]} at position ${i} is out of range (the dataset has ${maxClasses} classes, labels 0–${maxClasses - 1}). Use the label file that belongs to this dataset, or give its class names.`,
          part.files.labels,
        )
      }
    }
  }
  return { train, test, files: [found.train.images, found.train.labels, found.test.images, found.test.labels] }
}
