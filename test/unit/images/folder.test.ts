// An image folder of hand-made PNGs read back pixel for pixel, and the refusals.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import jpeg from 'jpeg-js'
import { describe, expect, it } from 'vitest'
import { ImageDatasetError } from '../../../src/data/images/errors.js'
import { decodeImages, listImageFolder } from '../../../src/data/images/folder.js'
import { pngBytes, tempDir, writeImageFolder } from './helpers.js'

// 3×2 images (width 3, height 2): RGB triples row by row.
const RED = [255, 0, 0, 1, 2, 3, 9, 9, 9, 0, 0, 0, 4, 5, 6, 200, 100, 50]
const GREEN = [0, 255, 0, 7, 8, 9, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
const BLUE = [0, 0, 255, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]
const grayOf = (values: number[]): number[] => values.flatMap((v) => [v, v, v])

describe('image folders', () => {
  it('lists classes and files in byte order and decodes RGB PNGs pixel for pixel', async () => {
    const dir = writeImageFolder({ dog: { 'b.png': pngBytes(3, 2, BLUE) }, cat: { 'z.png': pngBytes(3, 2, GREEN), 'a.png': pngBytes(3, 2, RED) } })
    const listing = await listImageFolder(dir)
    expect(listing.classes).toEqual(['cat', 'dog'])
    expect(listing.files.map((f) => f.slice(dir.length + 1))).toEqual(['cat/a.png', 'cat/z.png', 'dog/b.png'])
    expect([...listing.labels]).toEqual([0, 0, 1])
    const decoded = await decodeImages(listing.files)
    expect(decoded).toMatchObject({ height: 2, width: 3, channels: 3 })
    expect([...decoded.pixels]).toEqual([...RED, ...GREEN, ...BLUE])
  })

  it('keeps one channel when every pixel is gray, and can be asked for RGB', async () => {
    const a = [0, 50, 100, 150, 200, 250]
    const b = [1, 2, 3, 4, 5, 6]
    const dir = writeImageFolder({ x: { '1.png': pngBytes(3, 2, grayOf(a)) }, y: { '2.png': pngBytes(3, 2, grayOf(b)) } })
    const { files } = await listImageFolder(dir)
    const gray = await decodeImages(files)
    expect(gray.channels).toBe(1)
    expect([...gray.pixels]).toEqual([...a, ...b])
    const rgb = await decodeImages(files, 3)
    expect([...rgb.pixels]).toEqual([...grayOf(a), ...grayOf(b)])
  })

  it('converts colour to gray by BT.601 luma when asked for one channel', async () => {
    const dir = writeImageFolder({ c: { '1.png': pngBytes(3, 2, RED) } })
    const out = await decodeImages((await listImageFolder(dir)).files, 1)
    const expected: number[] = []
    for (let i = 0; i < RED.length; i += 3) expected.push(Math.round(0.299 * RED[i]! + 0.587 * RED[i + 1]! + 0.114 * RED[i + 2]!))
    expect([...out.pixels]).toEqual(expected)
  })

  it('decodes JPEG (lossy: a flat colour comes back within a few levels)', async () => {
    const width = 8
    const height = 8
    const data = Buffer.alloc(width * height * 4)
    for (let p = 0; p < width * height; p++) data.set([120, 60, 30, 255], 4 * p)
    const dir = writeImageFolder({ k: { 'flat.jpg': jpeg.encode({ data, width, height }, 95).data } })
    const out = await decodeImages((await listImageFolder(dir)).files)
    expect(out).toMatchObject({ height: 8, width: 8, channels: 3 })
    for (let i = 0; i < out.pixels.length; i += 3) {
      expect(Math.abs(out.pixels[i]! - 120)).toBeLessThanOrEqual(3)
      expect(Math.abs(out.pixels[i + 1]! - 60)).toBeLessThanOrEqual(3)
      expect(Math.abs(out.pixels[i + 2]! - 30)).toBeLessThanOrEqual(3)
    }
  })

  async function refusal(run: () => Promise<unknown>): Promise<ImageDatasetError> {
    const err = await run().then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ImageDatasetError)
    return err as ImageDatasetError
  }

  it('refuses a corrupt PNG by name', async () => {
    const whole = pngBytes(3, 2, RED)
    const dir = writeImageFolder({ a: { 'good.png': whole, 'bad.png': whole.subarray(0, whole.length - 20) } })
    const err = await refusal(async () => decodeImages((await listImageFolder(dir)).files))
    expect(err.file).toBe(join(dir, 'a/bad.png'))
    expect(err.message).toMatch(new RegExp(`^${join(dir, 'a/bad.png')} is not a readable PNG or JPEG image \\(.+\\): it is corrupt or truncated\\. Replace or remove it`))
  })

  it('refuses images of another size, naming both files and the fix', async () => {
    const dir = writeImageFolder({ a: { '1.png': pngBytes(3, 2, RED), '2.png': pngBytes(2, 3, RED) } })
    const err = await refusal(async () => decodeImages((await listImageFolder(dir)).files))
    expect(err.message).toContain(`${join(dir, 'a/2.png')} is 2×3 pixels but ${join(dir, 'a/1.png')} (the first image) is 3×2`)
    expect(err.message).toContain('mogrify -resize 3×2!')
  })

  it('refuses a folder without class subfolders, a stray file, and an empty class', async () => {
    const flat = tempDir()
    writeFileSync(join(flat, 'x.png'), pngBytes(3, 2, RED))
    expect((await refusal(() => listImageFolder(flat))).message).toMatch(/has no class subfolders: an image folder holds one subfolder per class/)
    const stray = writeImageFolder({ a: { '1.png': pngBytes(3, 2, RED), 'notes.txt': Buffer.from('hi') } })
    const e = await refusal(() => listImageFolder(stray))
    expect(e.file).toBe(join(stray, 'a/notes.txt'))
    expect(e.message).toContain('is not a PNG or JPEG file')
    const empty = writeImageFolder({ a: { '1.png': pngBytes(3, 2, RED) }, b: {} })
    expect((await refusal(() => listImageFolder(empty))).message).toContain(`${join(empty, 'b')} holds no images`)
  })
})
