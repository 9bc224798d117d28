// images.get on a real store: the bytes and labels of the requested rows equal loadImageSplit's
// (which reads the whole cache) for every split, in the request's order; a hand-made IDX set's
// test images equal the bytes written; unknown datasets and out-of-range indices are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { loadImageSplit } from '../../../src/data/images/registry.js'
import { ApiError } from '../../../src/shared/api.js'
import { Store } from '../../../src/store/store.js'
import { writePlantedIdx } from '../classify/planted.js'
import { TEST_LABELS, TEST_PIXELS, tempDir, writeIdxFolder } from './helpers.js'
import { join } from 'node:path'

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

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')

describe('images.get', () => {
  it('returns the requested rows of every split, byte for byte as loadImageSplit, in the order asked', async () => {
    const dir = writePlantedIdx(join(tempDir(), 'planted'), { train: 12, test: 5 })
    const d = await backend.call('images.add', { path: dir, validationFraction: 0.25 })
    for (const split of ['train', 'validation', 'test'] as const) {
      const whole = await loadImageSplit(store, d.id, split)
      const n = whole.shape[0]
      expect(n).toBe(d.splitSizes[split])
      const indices = [n - 1, 0, Math.floor(n / 2), 0]
      const got = await backend.call('images.get', { datasetId: d.id, split, indices })
      expect(got).toMatchObject({ datasetId: d.id, split, height: 8, width: 8, channels: 1, classes: d.classes })
      expect(got.images.map((x) => x.index)).toEqual(indices)
      const bytes = 8 * 8
      for (const img of got.images) {
        expect(img.label).toBe(whole.labels[img.index])
        expect(img.pixels).toBe(b64(whole.images.subarray(img.index * bytes, (img.index + 1) * bytes)))
      }
    }
  })

  it('gives a hand-made IDX set\'s official test images exactly as written', async () => {
    const d = await backend.call('images.add', { path: writeIdxFolder(), classNames: ['a', 'b', 'c'] })
    const got = await backend.call('images.get', { datasetId: d.id, split: 'test', indices: [1, 0] })
    expect(got.images).toEqual([
      { index: 1, label: TEST_LABELS[1], pixels: b64(Uint8Array.from(TEST_PIXELS.slice(4, 8))) },
      { index: 0, label: TEST_LABELS[0], pixels: b64(Uint8Array.from(TEST_PIXELS.slice(0, 4))) },
    ])
  })

  it('refuses an unknown dataset and an index past the split, saying what exists', async () => {
    const d = await backend.call('images.add', { path: writeIdxFolder(), classNames: ['a', 'b', 'c'] })
    const missing = await backend.call('images.get', { datasetId: 9999, split: 'test', indices: [0] }).catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(ApiError)
    expect(missing).toMatchObject({ code: 'not_found' })
    expect((missing as Error).message).toMatch(/no image dataset #9999/)
    const past = await backend.call('images.get', { datasetId: d.id, split: 'test', indices: [0, 2] }).catch((e: unknown) => e)
    expect(past).toMatchObject({ code: 'bad_request' })
    expect((past as Error).message).toMatch(/Image 2 is out of range: the test split .* has 2 images/)
    await expect(backend.call('images.get', { datasetId: d.id, split: 'test', indices: [] })).rejects.toThrow()
  })
})
