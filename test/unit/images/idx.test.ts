// The IDX reader against files laid out by hand, byte by byte, and against each kind of damage.
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { ImageDatasetError } from '../../../src/data/images/errors.js'
import { parseIdxImages, readIdxFolder } from '../../../src/data/images/idx.js'
import { idxImages, idxLabels, TEST_LABELS, TEST_PIXELS, TRAIN_LABELS, TRAIN_PIXELS, writeIdxFolder } from './helpers.js'

describe('readIdxFolder', () => {
  for (const gz of [false, true]) {
    it(`reads a hand-made 3-image 2×2 set back exactly (${gz ? '.gz' : 'plain'})`, async () => {
      const dir = writeIdxFolder({}, { gz })
      const set = await readIdxFolder(dir)
      expect(set.train.images).toMatchObject({ count: 3, rows: 2, cols: 2 })
      expect([...set.train.images.data]).toEqual(TRAIN_PIXELS)
      expect([...set.train.labels]).toEqual(TRAIN_LABELS)
      expect(set.test.images).toMatchObject({ count: 2, rows: 2, cols: 2 })
      expect([...set.test.images.data]).toEqual(TEST_PIXELS)
      expect([...set.test.labels]).toEqual(TEST_LABELS)
      expect(set.files.map((f) => f.slice(dir.length + 1))).toEqual(
        ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'].map((n) => (gz ? `${n}.gz` : n)),
      )
    })
  }

  /** Expects the folder to be refused with an ImageDatasetError naming `file` and matching `why`. */
  async function refused(dir: string, file: string, why: RegExp, opts: { maxClasses?: number } = {}): Promise<void> {
    const err = await readIdxFolder(dir, opts).then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ImageDatasetError)
    const e = err as ImageDatasetError
    expect(e.file).toBe(join(dir, file))
    expect(e.message).toContain(join(dir, file))
    expect(e.message).toMatch(why)
  }

  it('refuses a truncated image file, naming it', async () => {
    const dir = writeIdxFolder({ trainImages: idxImages(3, 2, 2, TRAIN_PIXELS.slice(0, 11)) })
    await refused(dir, 'train-images-idx3-ubyte', /is truncated: its header promises 3 images of 2×2 \(12 bytes of data\) but it holds 11\. Download it again/)
  })

  it('refuses a file cut inside its header, and one longer than its header says', async () => {
    const cut = writeIdxFolder({ testLabels: Uint8Array.from([0, 0, 8, 1, 0, 0]) })
    await refused(cut, 't10k-labels-idx1-ubyte', /shorter than its 8-byte header: it is truncated/)
    const long = writeIdxFolder({ testImages: idxImages(2, 2, 2, [...TEST_PIXELS, 9]) })
    await refused(long, 't10k-images-idx3-ubyte', /1 bytes longer than its header says/)
  })

  it('refuses a wrong magic number, saying what the file is instead', async () => {
    // A label file where the images should be: the type is right, the dimension count is not.
    const swapped = writeIdxFolder({ trainImages: idxLabels(TRAIN_LABELS) })
    await refused(swapped, 'train-images-idx3-ubyte', /wrong magic number 0x00000801 \(it has 1 dimensions, not 3\)\. Use the image file \(idx3-ubyte\)/)
    const png = writeIdxFolder({ testImages: Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]) })
    await refused(png, 't10k-images-idx3-ubyte', /wrong magic number 0x89504e47 \(it is not an IDX file\)/)
    const floats = writeIdxFolder({ testLabels: Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 2, 1, 2]) })
    await refused(floats, 't10k-labels-idx1-ubyte', /its data type is 0xd, not unsigned bytes/)
  })

  it('refuses a label count that differs from the image count, naming the label file', async () => {
    const dir = writeIdxFolder({ trainLabels: idxLabels([2, 0]) })
    await refused(dir, 'train-labels-idx1-ubyte', /holds 2 labels but .*train-images-idx3-ubyte holds 3 images/)
  })

  it('refuses a label out of range for the class names given', async () => {
    const dir = writeIdxFolder()
    // TRAIN_LABELS holds a 2: with two classes only 0 and 1 are valid.
    await refused(dir, 'train-labels-idx1-ubyte', /label 2 at position 0 is out of range \(the dataset has 2 classes, labels 0–1\)/, { maxClasses: 2 })
  })

  it('refuses a corrupt .gz and names a missing file', async () => {
    const dir = writeIdxFolder({}, { gz: true })
    const gz = join(dir, 'train-labels-idx1-ubyte.gz')
    writeFileSync(gz, readFileSync(gz).subarray(0, 12))
    await refused(dir, 'train-labels-idx1-ubyte.gz', /is not a valid gzip file .*truncated or corrupt/)

    writeFileSync(gz, gzipSync(idxLabels(TRAIN_LABELS)))
    rmSync(join(dir, 't10k-labels-idx1-ubyte.gz'))
    const err = (await readIdxFolder(dir).catch((e: unknown) => e)) as ImageDatasetError
    expect(err.message).toContain('but not t10k-labels-idx1-ubyte (plain or .gz)')
    expect(err.reason).toBe('missing')
  })

  it('refuses test images of another size than the training images', async () => {
    const dir = writeIdxFolder({ testImages: idxImages(2, 1, 4, TEST_PIXELS) })
    await refused(dir, 't10k-images-idx3-ubyte', /holds 1×4 images but .* holds 2×2/)
  })

  it('parses headers big-endian: 256 images of 1×1', () => {
    const parsed = parseIdxImages(idxImages(256, 1, 1, Array.from({ length: 256 }, (_, i) => i)), 'x')
    expect(parsed.count).toBe(256)
    expect(parsed.data[255]).toBe(255)
  })
})
