// Image datasets through the API on a real store: images.add / images.list / listLocations, the
// split and its counts, the cache read back by loadImageSplit, and Debian's Fashion-MNIST.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DEBIAN_PATH } from '../../../src/data/images/known.js'
import { loadImageSplit } from '../../../src/data/images/registry.js'
import { getDataset } from '../../../src/data/registry.js'
import { ApiError } from '../../../src/shared/api.js'
import { ImageDataset, type ImageAddRequest } from '../../../src/shared/images.js'
import { Store } from '../../../src/store/store.js'
import { idxImages, idxLabels, pngBytes, TEST_LABELS, TEST_PIXELS, TRAIN_LABELS, TRAIN_PIXELS, tempDir, writeIdxFolder, writeImageFolder } from './helpers.js'

let storeDir: string
let backend: Backend
let store: Store
beforeAll(async () => {
  storeDir = tempDir()
  backend = await Backend.create({ storeDir, backend: 'cpu' })
  store = new Store({ dir: storeDir })
})
afterAll(async () => {
  store.close()
  await backend.close()
})

const add = (input: ImageAddRequest): Promise<ImageDataset> => backend.call('images.add', input)

describe('images.add / images.list', () => {
  it('registers a hand-made IDX folder: classes, shape, official test split, counts; the cache reads back exactly', async () => {
    const dir = writeIdxFolder({}, { gz: true })
    const d = await add({ path: dir, classNames: ['zero', 'one', 'two'], validationFraction: 0.4 })
    expect(ImageDataset.parse(d)).toEqual(d)
    expect(d).toMatchObject({
      modality: 'images',
      format: 'idx',
      classes: ['zero', 'one', 'two'],
      shape: { height: 2, width: 2, channels: 1 },
      images: 5,
      files: 4,
      status: 'ok',
      split: { validationFraction: 0.4, testFraction: null, seed: 0 },
      cacheBytes: 5 * 4 + 5,
    })
    // One training image per class: round(0.4 · 1) = 0 held out, so all three train.
    expect(d.counts).toEqual({ train: [1, 1, 1], validation: [0, 0, 0], test: [0, 1, 1] })
    expect(d.splitSizes).toEqual({ train: 3, validation: 0, test: 2 })

    const test = await loadImageSplit(store, d.id, 'test')
    expect(test.shape).toEqual([2, 2, 2, 1])
    expect([...test.images]).toEqual(TEST_PIXELS)
    expect([...test.labels]).toEqual(TEST_LABELS)
    expect(test.classes).toEqual(['zero', 'one', 'two'])
    const train = await loadImageSplit(store, d.id, 'train')
    expect([...train.images]).toEqual(TRAIN_PIXELS)
    expect([...train.labels]).toEqual(TRAIN_LABELS)

    const list = await backend.call('images.list', {})
    expect(list.find((x) => x.id === d.id)).toEqual(d)
    // Text pickers never see it, and a text job refuses its id with what it is.
    expect((await backend.call('datasets.list', {})).some((x) => x.id === d.id)).toBe(false)
    expect(() => getDataset(store.db, d.id)).toThrow(/is an image dataset: it trains image classifiers/)

    // Re-registering keeps the id; new content replaces the old cache file; a changed file is noticed by the listing.
    expect((await add({ path: dir, classNames: ['zero', 'one', 'two'] })).id).toBe(d.id)
    const caches = (): string[] => readdirSync(join(storeDir, 'images')).filter((f) => f.startsWith(d.sha256.slice(0, 32)))
    expect(caches()).toHaveLength(1)
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idxLabels([2, 1])))
    const changed = await add({ path: dir, classNames: ['zero', 'one', 'two'] })
    expect(changed).toMatchObject({ id: d.id, previousSha256: d.sha256, counts: { test: [0, 1, 1] } })
    expect(caches()).toHaveLength(0)
    expect((await loadImageSplit(store, d.id, 'test')).labels).toEqual(Uint8Array.of(2, 1))
    rmSync(join(dir, 'train-images-idx3-ubyte.gz'))
    expect((await backend.call('images.list', {})).find((x) => x.id === d.id)?.status).toBe('changed')
  })

  it('validation is a stratified part of the train split: a planted 40-image set', async () => {
    // 4 classes × 10 training images of 1×1 (pixel = index), 4 test images.
    const labels = Array.from({ length: 40 }, (_, i) => i % 4)
    const dir = writeIdxFolder({
      trainImages: idxImages(40, 1, 1, labels.map((_, i) => i)),
      trainLabels: idxLabels(labels),
      testImages: idxImages(4, 1, 1, [100, 101, 102, 103]),
      testLabels: idxLabels([0, 1, 2, 3]),
    })
    const d = await add({ path: dir, validationFraction: 0.2, seed: 5 })
    expect(d.classes).toEqual(['0', '1', '2', '3'])
    expect(d.counts).toEqual({ train: [8, 8, 8, 8], validation: [2, 2, 2, 2], test: [1, 1, 1, 1] })
    const train = await loadImageSplit(store, d.id, 'train')
    const validation = await loadImageSplit(store, d.id, 'validation')
    // Each image is in exactly one split, with its own label (pixel i has label i % 4).
    const seen = [...train.images, ...validation.images].sort((a, b) => a - b)
    expect(seen).toEqual(labels.map((_, i) => i))
    for (const s of [train, validation]) s.images.forEach((p, j) => expect(s.labels[j]).toBe(p % 4))
  })

  it('registers a folder of PNGs by class with a seeded stratified test part, pixel for pixel', async () => {
    const files: Record<string, Record<string, Uint8Array>> = { ant: {}, bee: {} }
    // 10 images per class, 1×2 RGB, each pixel value unique to its image.
    for (const [c, cls] of ['ant', 'bee'].entries()) for (let i = 0; i < 10; i++) files[cls]![`${i}.png`] = pngBytes(2, 1, [c, i, 1, c, i, 2])
    const dir = writeImageFolder(files)
    const d = await add({ path: dir, testFraction: 0.2, validationFraction: 0.25 })
    expect(d).toMatchObject({ format: 'image-folder', classes: ['ant', 'bee'], shape: { height: 1, width: 2, channels: 3 }, images: 20 })
    expect(d.counts).toEqual({ train: [6, 6], validation: [2, 2], test: [2, 2] })
    const all = await Promise.all((['train', 'validation', 'test'] as const).map((s) => loadImageSplit(store, d.id, s)))
    const got: string[] = []
    for (const s of all) {
      for (let j = 0; j < s.labels.length; j++) {
        const px = [...s.images.subarray(j * 6, j * 6 + 6)]
        expect(px[0]).toBe(s.labels[j])
        got.push(px.join(','))
      }
    }
    const expected = ['ant', 'bee'].flatMap((_, c) => Array.from({ length: 10 }, (_, i) => [c, i, 1, c, i, 2].join(',')))
    expect(got.sort()).toEqual(expected.sort())
  })

  it('answers bad_request naming a corrupt PNG, and not_found for a missing folder', async () => {
    const whole = pngBytes(2, 1, [1, 2, 3, 4, 5, 6])
    const dir = writeImageFolder({ a: { 'ok.png': whole }, b: { 'broken.png': whole.subarray(0, 30) } })
    const err = (await add({ path: dir }).catch((e: unknown) => e)) as ApiError
    expect(err).toBeInstanceOf(ApiError)
    expect(err.code).toBe('bad_request')
    expect(err.message).toContain(`${join(dir, 'b/broken.png')} is not a readable PNG or JPEG image`)
    const gone = (await add({ path: join(dir, 'nope') }).catch((e: unknown) => e)) as ApiError
    expect(gone).toBeInstanceOf(ApiError)
    expect(gone.message).toContain(join(dir, 'nope'))
  })

  it('refuses a test fraction for an IDX folder (its test split is the official one)', async () => {
    const err = (await add({ path: writeIdxFolder(), testFraction: 0.1 }).catch((e: unknown) => e)) as ApiError
    expect(err.message).toMatch(/official test split, kept apart as the test set: leave the test fraction out/)
  })
})

const fashionInstalled = existsSync(join(FASHION_MNIST_DEBIAN_PATH, 'train-images-idx3-ubyte.gz'))
if (!fashionInstalled) {
  console.warn(`SKIPPED: Debian's dataset-fashion-mnist is not installed at ${FASHION_MNIST_DEBIAN_PATH} (apt-get install dataset-fashion-mnist, or run scripts/setup.sh)`)
}

describe('Fashion-MNIST from Debian', () => {
  it('is listed as a known location with whether it is installed', async () => {
    const locations = await backend.call('images.listLocations', {})
    expect(locations.find((l) => l.path === FASHION_MNIST_DEBIAN_PATH)).toMatchObject({ name: 'Fashion-MNIST', present: fashionInstalled })
  })

  it.skipIf(!fashionInstalled)(
    `has the real counts: 60,000 train / 10,000 test, 28×28, 6,000 per class (skipped when dataset-fashion-mnist is not installed)`,
    async () => {
      const d = await add({ path: FASHION_MNIST_DEBIAN_PATH })
      expect(d).toMatchObject({ format: 'idx', classes: [...FASHION_MNIST_CLASSES], shape: { height: 28, width: 28, channels: 1 }, images: 70_000 })
      expect(d.splitSizes).toEqual({ train: 54_000, validation: 6_000, test: 10_000 })
      expect(d.counts.train.map((n, c) => n + d.counts.validation[c]!)).toEqual(new Array(10).fill(6_000))
      expect(d.counts.validation).toEqual(new Array(10).fill(600))
      expect(d.counts.test).toEqual(new Array(10).fill(1_000))
      // The test split against the package's own bytes, parsed here independently (16- and 8-byte headers).
      const raw = gunzipSync(readFileSync(join(FASHION_MNIST_DEBIAN_PATH, 't10k-images-idx3-ubyte.gz'))).subarray(16)
      const rawLabels = gunzipSync(readFileSync(join(FASHION_MNIST_DEBIAN_PATH, 't10k-labels-idx1-ubyte.gz'))).subarray(8)
      const test = await loadImageSplit(store, d.id, 'test')
      expect(test.shape).toEqual([10_000, 28, 28, 1])
      expect(Buffer.from(test.images).equals(raw)).toBe(true)
      expect(Buffer.from(test.labels).equals(rawLabels)).toBe(true)
    },
    120_000,
  )
})
