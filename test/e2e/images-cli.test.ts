// `mxd images` as a user runs it: a real process on a real store, hand-made IDX files and PNGs.
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FASHION_MNIST_DEBIAN_PATH } from '../../src/data/images/known.js'
import { mxd } from '../helpers/mxd-cli.js'
import { tempStore } from '../helpers/web-process.js'
import { idxImages, pngBytes, TEST_PIXELS, writeIdxFolder, writeImageFolder } from '../unit/images/helpers.js'

describe('mxd images', () => {
  it('add --json registers an IDX folder and a PNG folder; list shows both; text output has the split per class', async () => {
    const store = tempStore()
    const idx = writeIdxFolder({}, { gz: true })
    const r = await mxd(['images', 'add', idx, '--classes', 'a,b,c', '--json', '--store', store])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ id: 1, modality: 'images', format: 'idx', classes: ['a', 'b', 'c'], images: 5, splitSizes: { train: 3, validation: 0, test: 2 } })

    const pngs = writeImageFolder({ cat: { '1.png': pngBytes(2, 2, new Array(12).fill(9)) }, dog: { '1.png': pngBytes(2, 2, new Array(12).fill(7)) } })
    const text = await mxd(['images', 'add', pngs, '--test', '0', '--validation', '0', '--store', store])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^ {3}2 {2}mxd-images-\w+ · image-folder · 2 images 2×2×1 · 2 classes · train 2 \/ validation 0 \/ test 0 · sha256 [0-9a-f]{12}…\n/)
    expect(text.stdout).toContain('  classes: cat (1/0/0), dog (1/0/0)')

    const list = JSON.parse((await mxd(['images', 'list', '--json', '--store', store])).stdout) as { id: number; format: string }[]
    expect(list.map((d) => [d.id, d.format])).toEqual([
      [1, 'idx'],
      [2, 'image-folder'],
    ])
    // The text list is for text datasets only.
    expect(JSON.parse((await mxd(['datasets', '--json', '--store', store])).stdout)).toEqual([])
  })

  it('fails with the bad file named and the fix; bad usage is exit 2', async () => {
    const store = tempStore()
    const dir = writeIdxFolder({ testImages: idxImages(2, 2, 2, TEST_PIXELS.slice(0, 5)) })
    const cut = await mxd(['images', 'add', dir, '--store', store])
    expect(cut.code).toBe(1)
    expect(cut.stderr).toContain(`mxd images: ${join(dir, 't10k-images-idx3-ubyte')} is truncated`)
    expect(cut.stderr).toContain('Download it again')

    const pngs = writeImageFolder({ a: { 'x.png': Buffer.from('not a png at all') } })
    writeFileSync(join(pngs, 'a', 'y.png'), pngBytes(1, 1, [1, 2, 3]))
    const corrupt = await mxd(['images', 'add', pngs, '--store', store])
    expect(corrupt.code).toBe(1)
    expect(corrupt.stderr).toContain(`${join(pngs, 'a/x.png')} is not a readable PNG or JPEG image`)

    const usage = await mxd(['images', 'add', dir, '--validation', '2', '--store', store])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('--validation is a fraction in [0, 1)')
  })

  it.skipIf(!existsSync(join(FASHION_MNIST_DEBIAN_PATH, 'train-images-idx3-ubyte.gz')))(
    'add --fashion-mnist finds the Debian package (skipped when dataset-fashion-mnist is not installed)',
    async () => {
      const store = tempStore()
      const locations = await mxd(['images', 'locations', '--store', store])
      expect(locations.stdout).toContain(`Fashion-MNIST: ${FASHION_MNIST_DEBIAN_PATH} · installed`)
      const r = await mxd(['images', 'add', '--fashion-mnist', '--json', '--store', store])
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout)).toMatchObject({ path: FASHION_MNIST_DEBIAN_PATH, images: 70_000, splitSizes: { train: 54_000, validation: 6_000, test: 10_000 } })
    },
    120_000,
  )
})
