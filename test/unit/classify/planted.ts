// A small planted image set written as an MNIST-layout IDX folder: 8×8 grayscale images of four
// classes, class c being a bright horizontal bar on rows 2c and 2c+1 over seeded noise. Any of
// the classifiers separates them; what the tests check is the training job around them.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Rng } from '../../../src/data/shuffle.js'

export const SIDE = 8
export const CLASSES = 4

function header(magic: number, dims: number[]): Buffer {
  const b = Buffer.alloc(4 + 4 * dims.length)
  b.writeUInt32BE(magic, 0)
  dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i))
  return b
}

/** Pixels of one planted image of class `c`. */
export function plantedImage(c: number, rng: Rng): Uint8Array {
  const px = new Uint8Array(SIDE * SIDE)
  for (let i = 0; i < px.length; i++) px[i] = rng.below(90)
  for (let y = 2 * c; y < 2 * c + 2; y++) for (let x = 0; x < SIDE; x++) px[y * SIDE + x] = 160 + rng.below(96)
  return px
}

/** Writes the IDX folder: `train` and `test` images per class, interleaved by class. */
export function writePlantedIdx(dir: string, opts: { train: number; test: number; seed?: number }): string {
  mkdirSync(dir, { recursive: true })
  const rng = new Rng(opts.seed ?? 3)
  for (const [prefix, perClass] of [['train', opts.train], ['t10k', opts.test]] as const) {
    const n = perClass * CLASSES
    const images = Buffer.alloc(n * SIDE * SIDE)
    const labels = Buffer.alloc(n)
    for (let i = 0; i < n; i++) {
      labels[i] = i % CLASSES
      images.set(plantedImage(i % CLASSES, rng), i * SIDE * SIDE)
    }
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), Buffer.concat([header(0x803, [n, SIDE, SIDE]), images]))
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), Buffer.concat([header(0x801, [n]), labels]))
  }
  return dir
}
