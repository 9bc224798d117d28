// A folder of images by class: one subfolder per class (its name is the class name), holding
// PNG or JPEG files, all of one size. Decoding runs in a worker thread (decode-worker.mjs) so a
// folder of many or large images never stalls the server; listing uses async fs.
import { readdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { describeFsError } from '../../fs/user-files.js'
import { MAX_IMAGE_CLASSES } from '../../shared/images.js'
import { ImageDatasetError } from './errors.js'

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const

export interface ImageFolderListing {
  root: string
  /** Subfolder names in byte order: class i is classes[i]. */
  classes: string[]
  /** Absolute paths, class by class, each class's files in byte order of their names. */
  files: string[]
  labels: Uint8Array
}

export interface DecodedImages {
  /** n × height × width × channels, row-major. */
  pixels: Uint8Array
  height: number
  width: number
  channels: 1 | 3
  /** Per file, as read for decoding: size, modification time and sha256. */
  files: { bytes: number; mtimeMs: number; sha256: string }[]
}

const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const isImage = (name: string): boolean => IMAGE_EXTENSIONS.some((ext) => name.toLowerCase().endsWith(ext))

/** The classes and files of an image folder; hidden entries are skipped, anything else refused. */
export async function listImageFolder(root: string): Promise<ImageFolderListing> {
  const entries = await readdir(root, { withFileTypes: true }).catch((err: unknown) => Promise.reject(describeFsError(err, root, 'The image folder')))
  const classDirs = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort(byteOrder)
  if (classDirs.length === 0) {
    throw new ImageDatasetError(
      'unsupported',
      `${root} has no class subfolders: an image folder holds one subfolder per class (its name is the class name) with that class's PNG or JPEG files, or the four IDX files of the MNIST layout.`,
      root,
    )
  }
  if (classDirs.length > MAX_IMAGE_CLASSES) {
    throw new ImageDatasetError('unsupported', `${root} has ${classDirs.length} class subfolders; at most ${MAX_IMAGE_CLASSES} classes are supported. Merge classes or split the folder.`, root)
  }
  const files: string[] = []
  const labels: number[] = []
  for (let c = 0; c < classDirs.length; c++) {
    const dir = join(root, classDirs[c]!)
    const inner = await readdir(dir, { withFileTypes: true }).catch((err: unknown) => Promise.reject(describeFsError(err, dir, 'The class folder')))
    const names = inner.filter((e) => !e.name.startsWith('.')).sort((a, b) => byteOrder(a.name, b.name))
    const other = names.find((e) => !(e.isFile() && isImage(e.name)))
    if (other) {
      throw new ImageDatasetError(
        'unsupported',
        `${join(dir, other.name)} is not a PNG or JPEG file: a class folder holds only .png, .jpg or .jpeg images. Move it out of ${relative(root, dir)}/.`,
        join(dir, other.name),
      )
    }
    if (names.length === 0) throw new ImageDatasetError('unreadable', `${dir} holds no images: every class needs at least one. Add images or remove the folder.`, dir)
    for (const e of names) {
      files.push(join(dir, e.name))
      labels.push(c)
    }
  }
  return { root, classes: classDirs, files, labels: Uint8Array.from(labels) }
}

/**
 * The decoder's script: beside this module when running from source, or the bundled
 * decode-worker.js beside the main bundle in the Electron build (electron.vite.config.ts).
 */
function decodeWorkerPath(): string {
  const source = fileURLToPath(new URL('./decode-worker.mjs', import.meta.url))
  // The app's own file, not a user's path: a sync check is fine here.
  return existsSync(source) ? source : join(dirname(source), 'decode-worker.js')
}

type WorkerResult =
  | { ok: true; pixels: Uint8Array; width: number; height: number; channels: 1 | 3; files: DecodedImages['files'] }
  | { ok: false; file: string; kind: 'corrupt' | 'size' | 'too-large'; message: string; first?: string; expected?: string }

/**
 * Decodes the files (in a worker thread) into one buffer; `channels` 'auto' gives 1 when every
 * pixel of every image is gray (R = G = B), else 3. Alpha is dropped.
 */
export async function decodeImages(files: readonly string[], channels: 1 | 3 | 'auto' = 'auto'): Promise<DecodedImages> {
  const result = await new Promise<WorkerResult>((resolve, reject) => {
    const worker = new Worker(decodeWorkerPath(), { workerData: { files, channels } })
    worker.once('message', resolve)
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`the image decoder stopped (exit code ${code}) before it answered`)))
  })
  if (!result.ok) {
    if (result.kind === 'too-large') {
      const gb = (Number(result.expected) / 2 ** 30).toFixed(1)
      throw new ImageDatasetError(
        'unsupported',
        `The folder's ${result.message} (the size of ${result.file}) would take ${gb} GiB decoded, more than the 4 GiB an image dataset may: resize the images smaller or use fewer of them.`,
        result.file,
      )
    }
    if (result.kind === 'size') {
      throw new ImageDatasetError(
        'unreadable',
        `${result.file} is ${result.message} pixels but ${result.first} (the first image) is ${result.expected}: every image of a dataset must have one size. Resize them all to one size (for example with ImageMagick: mogrify -resize ${result.expected}! *.png), then add the folder again.`,
        result.file,
      )
    }
    throw new ImageDatasetError(
      'unreadable',
      `${result.file} is not a readable PNG or JPEG image (${result.message}): it is corrupt or truncated. Replace or remove it, then add the folder again.`,
      result.file,
    )
  }
  return { pixels: result.pixels, height: result.height, width: result.width, channels: result.channels, files: result.files }
}
