// Hand-made image datasets for the image tests: IDX bytes laid out by hand, PNGs written with
// pngjs's encoder.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { PNG } from 'pngjs'

export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'mxd-images-'))

const u32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]

/** An idx3-ubyte file: magic 0x00000803, n, rows, cols, then the pixels. */
export function idxImages(count: number, rows: number, cols: number, pixels: number[]): Uint8Array {
  return Uint8Array.from([0, 0, 8, 3, ...u32(count), ...u32(rows), ...u32(cols), ...pixels])
}

/** An idx1-ubyte file: magic 0x00000801, n, then the labels. */
export function idxLabels(labels: number[], count = labels.length): Uint8Array {
  return Uint8Array.from([0, 0, 8, 1, ...u32(count), ...labels])
}

/** The hand-made set: three 2×2 training images, two test images. */
export const TRAIN_PIXELS = [0, 1, 2, 3, 10, 20, 30, 40, 255, 128, 64, 0]
export const TRAIN_LABELS = [2, 0, 1]
export const TEST_PIXELS = [5, 6, 7, 8, 200, 201, 202, 203]
export const TEST_LABELS = [1, 2]

export interface IdxSet {
  trainImages?: Uint8Array
  trainLabels?: Uint8Array
  testImages?: Uint8Array
  testLabels?: Uint8Array
}

/** Writes the four files (hand-made set unless replaced) into a new folder; .gz when gz. */
export function writeIdxFolder(set: IdxSet = {}, opts: { gz?: boolean; dir?: string } = {}): string {
  const dir = opts.dir ?? tempDir()
  mkdirSync(dir, { recursive: true })
  const files: [string, Uint8Array][] = [
    ['train-images-idx3-ubyte', set.trainImages ?? idxImages(3, 2, 2, TRAIN_PIXELS)],
    ['train-labels-idx1-ubyte', set.trainLabels ?? idxLabels(TRAIN_LABELS)],
    ['t10k-images-idx3-ubyte', set.testImages ?? idxImages(2, 2, 2, TEST_PIXELS)],
    ['t10k-labels-idx1-ubyte', set.testLabels ?? idxLabels(TEST_LABELS)],
  ]
  for (const [name, bytes] of files) writeFileSync(join(dir, opts.gz ? `${name}.gz` : name), opts.gz ? gzipSync(bytes) : bytes)
  return dir
}

/** A PNG of `width`×`height` from RGB triples (opaque), by pngjs's encoder. */
export function pngBytes(width: number, height: number, rgb: number[]): Buffer {
  const png = new PNG({ width, height })
  for (let p = 0; p < width * height; p++) {
    png.data[4 * p] = rgb[3 * p]!
    png.data[4 * p + 1] = rgb[3 * p + 1]!
    png.data[4 * p + 2] = rgb[3 * p + 2]!
    png.data[4 * p + 3] = 255
  }
  return PNG.sync.write(png)
}

/** An image folder: files[class][name] = PNG bytes. */
export function writeImageFolder(files: Record<string, Record<string, Uint8Array>>, dir = tempDir()): string {
  for (const [cls, images] of Object.entries(files)) {
    mkdirSync(join(dir, cls), { recursive: true })
    for (const [name, bytes] of Object.entries(images)) writeFileSync(join(dir, cls, name), bytes)
  }
  return dir
}
