// Image datasets in the store's `datasets` table (modality "images"), beside the text ones of
// src/data/registry.ts: the path, name and content hash in their columns, the rest (classes,
// shape, split and its counts, files, cache) in `info`. Registering decodes every image once into
// the cache (cache.ts); loadImageSplit reads one split of it back for training.
import type Database from 'better-sqlite3'
import { rm, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { ImageDataset, ImageSplitName } from '../../shared/images.js'
import type { DatasetFileInfo } from '../scan.js'
import { IMAGE_CACHE_FOLDER, imageCacheName, readImageCache, readImageCacheLabels, writeImageCache } from './cache.js'
import { ImageDatasetError } from './errors.js'
import { scanImageDataset, type ImageScanOptions } from './scan.js'
import { countBySplit, DEFAULT_IMAGE_SPLIT_SEED, DEFAULT_TEST_FRACTION, DEFAULT_VALIDATION_FRACTION, SPLIT_CODE, splitCodes, type SplitPlan } from './split.js'

/** What registering needs of the store: its database and its folder (a Store fits). */
export interface ImageStore {
  db: Database.Database
  dir: string
}

export interface ImageRegisterOptions extends ImageScanOptions {
  validationFraction?: number
  /** Image folders only; an IDX dataset's test split is its official one. */
  testFraction?: number
  seed?: number
}

type StoredImageInfo = Pick<ImageDataset, 'format' | 'classes' | 'shape' | 'images' | 'splitSizes' | 'counts' | 'split' | 'bytes' | 'cacheBytes' | 'updatedAt' | 'previousSha256'> & {
  files: DatasetFileInfo[]
  /** The cache file's name under the store's images/ folder. */
  cache: string
  /** How many of the last images are the official test split. */
  officialTest: number
}

interface ImageRow {
  id: number
  path: string
  name: string
  sha256: string
  info: string
  added_at: string
}

export async function registerImageDataset(store: ImageStore, path: string, opts: ImageRegisterOptions = {}): Promise<ImageDataset> {
  const scan = await scanImageDataset(path, opts)
  if (scan.format === 'idx' && opts.testFraction !== undefined) {
    throw new ImageDatasetError('unsupported', `${scan.root} is an IDX dataset with an official test split, kept apart as the test set: leave the test fraction out.`, scan.root)
  }
  const plan: SplitPlan = {
    validationFraction: opts.validationFraction ?? DEFAULT_VALIDATION_FRACTION,
    testFraction: scan.format === 'idx' ? null : (opts.testFraction ?? DEFAULT_TEST_FRACTION),
    seed: opts.seed ?? DEFAULT_IMAGE_SPLIT_SEED,
  }
  const codes = splitCodes(scan.labels, scan.officialTest, plan)
  const counts = countBySplit(scan.labels, codes, scan.classes.length)
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)

  const cache = imageCacheName(scan.sha256, scan.channels)
  await writeImageCache(join(store.dir, IMAGE_CACHE_FOLDER, cache), scan.pixels, scan.labels)

  const before = store.db.prepare('SELECT sha256, info, modality FROM datasets WHERE path = ?').get(scan.root) as { sha256: string; info: string; modality: string } | undefined
  const now = new Date().toISOString()
  const info: StoredImageInfo = {
    format: scan.format,
    classes: scan.classes,
    shape: { height: scan.height, width: scan.width, channels: scan.channels },
    images: scan.labels.length,
    splitSizes: { train: sum(counts.train), validation: sum(counts.validation), test: sum(counts.test) },
    counts,
    split: plan,
    bytes: scan.bytes,
    cacheBytes: scan.pixels.byteLength + scan.labels.byteLength,
    updatedAt: now,
    previousSha256: before && before.sha256 !== scan.sha256 ? before.sha256 : null,
    files: scan.files,
    cache,
    officialTest: scan.officialTest,
  }
  store.db
    .prepare(
      `INSERT INTO datasets (path, name, sha256, info, added_at, modality) VALUES (?, ?, ?, ?, ?, 'images')
       ON CONFLICT(path) DO UPDATE SET name = excluded.name, sha256 = excluded.sha256, info = excluded.info, modality = excluded.modality`,
    )
    .run(scan.root, basename(scan.root), scan.sha256, JSON.stringify(info), now)
  if (before?.modality === 'images') await dropUnusedCache(store, (JSON.parse(before.info) as StoredImageInfo).cache)
  return toImageDataset(store.db.prepare('SELECT * FROM datasets WHERE path = ?').get(scan.root) as ImageRow)
}

/** Removes a cache file no row points at any more (the content of a re-registered path changed). */
async function dropUnusedCache(store: ImageStore, cache: string): Promise<void> {
  const rows = store.db.prepare("SELECT info FROM datasets WHERE modality = 'images'").all() as { info: string }[]
  if (rows.some((r) => (JSON.parse(r.info) as StoredImageInfo).cache === cache)) return
  await rm(join(store.dir, IMAGE_CACHE_FOLDER, cache), { force: true })
}

export async function listImageDatasets(db: Database.Database): Promise<ImageDataset[]> {
  const rows = db.prepare("SELECT * FROM datasets WHERE modality = 'images' ORDER BY id").all() as ImageRow[]
  return Promise.all(rows.map(toImageDataset))
}

export async function getImageDataset(db: Database.Database, id: number): Promise<ImageDataset | undefined> {
  const row = db.prepare("SELECT * FROM datasets WHERE id = ? AND modality = 'images'").get(id) as ImageRow | undefined
  return row ? toImageDataset(row) : undefined
}

export interface ImageSplitData {
  /** n × h × w × c pixel bytes, images in the dataset's order. */
  images: Uint8Array
  shape: [number, number, number, number]
  /** n labels, indices into `classes`. */
  labels: Uint8Array
  classes: string[]
}

/**
 * One split of a registered image dataset, read from its cache (no decoding): the training job's
 * input. The split is recomputed from the labels and the recorded seed and fractions, exactly as
 * at registration, so its counts match the record.
 */
export async function loadImageSplit(store: ImageStore, datasetId: number, split: ImageSplitName): Promise<ImageSplitData> {
  const row = store.db.prepare("SELECT * FROM datasets WHERE id = ? AND modality = 'images'").get(datasetId) as ImageRow | undefined
  if (!row) throw new ImageDatasetError('missing', `There is no image dataset #${datasetId}: list them with "mxd images list".`, String(datasetId))
  const info = JSON.parse(row.info) as StoredImageInfo
  const { height, width, channels } = info.shape
  const imageBytes = height * width * channels
  const { pixels, labels } = await readImageCache(join(store.dir, IMAGE_CACHE_FOLDER, info.cache), info.images, imageBytes)
  const codes = splitCodes(labels, info.officialTest, info.split)
  const want = SPLIT_CODE[split]
  let n = 0
  for (const c of codes) if (c === want) n++
  const images = new Uint8Array(n * imageBytes)
  const outLabels = new Uint8Array(n)
  for (let i = 0, j = 0; i < codes.length; i++) {
    if (codes[i] !== want) continue
    images.set(pixels.subarray(i * imageBytes, (i + 1) * imageBytes), j * imageBytes)
    outLabels[j++] = labels[i]!
  }
  return { images, shape: [n, height, width, channels], labels: outLabels, classes: info.classes }
}

/**
 * The labels of one split, in loadImageSplit's order, read without the pixels (the cache's label
 * bytes only): what the protected-set preview counts, in the server process.
 */
export async function loadImageSplitLabels(store: ImageStore, datasetId: number, split: ImageSplitName): Promise<{ labels: Uint8Array; classes: string[] }> {
  const row = store.db.prepare("SELECT * FROM datasets WHERE id = ? AND modality = 'images'").get(datasetId) as ImageRow | undefined
  if (!row) throw new ImageDatasetError('missing', `There is no image dataset #${datasetId}: list them with "mxd images list".`, String(datasetId))
  const info = JSON.parse(row.info) as StoredImageInfo
  const { height, width, channels } = info.shape
  const labels = await readImageCacheLabels(join(store.dir, IMAGE_CACHE_FOLDER, info.cache), info.images, height * width * channels)
  const codes = splitCodes(labels, info.officialTest, info.split)
  const want = SPLIT_CODE[split]
  const out: number[] = []
  for (let i = 0; i < codes.length; i++) if (codes[i] === want) out.push(labels[i]!)
  return { labels: Uint8Array.from(out), classes: info.classes }
}

async function toImageDataset(row: ImageRow): Promise<ImageDataset> {
  const info = JSON.parse(row.info) as StoredImageInfo
  return {
    id: row.id,
    path: row.path,
    name: row.name,
    modality: 'images',
    sha256: row.sha256,
    format: info.format,
    classes: info.classes,
    shape: info.shape,
    images: info.images,
    splitSizes: info.splitSizes,
    counts: info.counts,
    split: info.split,
    files: info.files.length,
    bytes: info.bytes,
    cacheBytes: info.cacheBytes,
    addedAt: row.added_at,
    updatedAt: info.updatedAt,
    previousSha256: info.previousSha256,
    status: await fileStatus(row.path, info.files),
  }
}

/** Whether the registered files are as they were, by size and modification time (async: many files). */
async function fileStatus(root: string, files: readonly DatasetFileInfo[]): Promise<ImageDataset['status']> {
  try {
    if (!(await stat(root)).isDirectory()) return 'missing'
  } catch {
    return 'missing'
  }
  const BATCH = 64
  for (let i = 0; i < files.length; i += BATCH) {
    const same = await Promise.all(
      files.slice(i, i + BATCH).map(async (f) => {
        try {
          const s = await stat(join(root, f.path))
          return s.size === f.bytes && s.mtimeMs === f.mtimeMs
        } catch {
          return false
        }
      }),
    )
    if (same.includes(false)) return 'changed'
  }
  return 'ok'
}
