// A few images of a registered dataset's split, for pages that show them (images.get): only the
// requested rows of the uint8 cache are read, at their offsets, so showing twelve misclassified
// examples of Fashion-MNIST reads twelve 784-byte rows and the 70 000 labels, never the 55 MB cache.
// The split is recomputed from the labels exactly as loadImageSplit does, so "index i of the test
// split" names the same image in both.
import type Database from 'better-sqlite3'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import type { ImageDataset, ImageSplitName } from '../../shared/images.js'
import { IMAGE_CACHE_FOLDER } from './cache.js'
import { ImageDatasetError } from './errors.js'
import { SPLIT_CODE, splitCodes, type SplitPlan } from './split.js'

/** The fields of a dataset's stored `info` this reader needs (registry.ts writes them). */
interface CacheInfo {
  classes: string[]
  shape: ImageDataset['shape']
  images: number
  cache: string
  officialTest: number
  split: SplitPlan
}

export interface ImageRows {
  height: number
  width: number
  channels: number
  classes: string[]
  /** One entry per requested index, in the request's order. */
  rows: { index: number; label: number; pixels: Uint8Array }[]
}

export async function readImageRows(store: { db: Database.Database; dir: string }, datasetId: number, split: ImageSplitName, indices: readonly number[]): Promise<ImageRows> {
  const row = store.db.prepare("SELECT info FROM datasets WHERE id = ? AND modality = 'images'").get(datasetId) as { info: string } | undefined
  if (!row) throw new ImageDatasetError('missing', `There is no image dataset #${datasetId}: list them with "mxd images list" or add one on the Classifiers page.`, String(datasetId))
  const info = JSON.parse(row.info) as CacheInfo
  const { height, width, channels } = info.shape
  const imageBytes = height * width * channels
  const path = join(store.dir, IMAGE_CACHE_FOLDER, info.cache)
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err) {
    throw new Error(`The image cache ${path} cannot be read (${(err as Error).message}): add the dataset again to rebuild it.`, { cause: err })
  }
  try {
    const { size } = await fh.stat()
    if (size !== info.images * (imageBytes + 1)) {
      throw new Error(`The image cache ${path} is ${size} bytes, not the ${info.images * (imageBytes + 1)} its record says: add the dataset again to rebuild it.`)
    }
    // The labels (one byte an image, after all the pixels) decide the split.
    const labels = new Uint8Array(info.images)
    await fh.read(labels, 0, info.images, info.images * imageBytes)
    const codes = splitCodes(labels, info.officialTest, info.split)
    const want = SPLIT_CODE[split]
    const global: number[] = []
    for (let i = 0; i < codes.length; i++) if (codes[i] === want) global.push(i)
    const bad = indices.find((i) => i >= global.length)
    if (bad !== undefined) {
      throw new ImageDatasetError('unsupported', `Image ${bad} is out of range: the ${split} split of dataset #${datasetId} has ${global.length} images (indices 0 to ${global.length - 1}).`, String(datasetId))
    }
    const rows = await Promise.all(
      indices.map(async (index) => {
        const g = global[index]!
        const pixels = new Uint8Array(imageBytes)
        await fh.read(pixels, 0, imageBytes, g * imageBytes)
        return { index, label: labels[g]!, pixels }
      }),
    )
    return { height, width, channels, classes: info.classes, rows }
  } finally {
    await fh.close()
  }
}
