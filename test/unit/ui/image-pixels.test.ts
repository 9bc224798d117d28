// The image expert page's pixel conversion, by hand on 2×2 images: base64 decodes to the bytes
// written, gray bytes fan out to equal R, G and B, RGB bytes keep their order, alpha is opaque,
// and a wrong byte count or channel count is refused.
import { describe, expect, it } from 'vitest'
// The renderer is its own TypeScript project: import its module at run time, typed here (as numbers.test.ts does).
interface ImagePixelsModule {
  decodeBase64Pixels(base64: string): Uint8Array
  imagePixelsToRgba(pixels: Uint8Array, width: number, height: number, channels: number): Uint8ClampedArray
}
const IMAGE_PIXELS: string = '../../../src/renderer/src/lib/image-pixels.ts'
const { decodeBase64Pixels, imagePixelsToRgba } = (await import(IMAGE_PIXELS)) as ImagePixelsModule

describe('image-pixels', () => {
  it('decodes base64 to the original bytes', () => {
    // [0, 127, 128, 255] in base64, written out by hand: 0x00 0x7f 0x80 0xff → "AH+A/w==".
    expect([...decodeBase64Pixels('AH+A/w==')]).toEqual([0, 127, 128, 255])
  })

  it('turns a 2×2 gray image into RGBA, row-major', () => {
    const rgba = imagePixelsToRgba(new Uint8Array([0, 127, 128, 255]), 2, 2, 1)
    expect([...rgba]).toEqual([0, 0, 0, 255, 127, 127, 127, 255, 128, 128, 128, 255, 255, 255, 255, 255])
  })

  it('turns a 2×2 RGB image into RGBA', () => {
    // red, green / blue, white
    const px = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])
    expect([...imagePixelsToRgba(px, 2, 2, 3)]).toEqual([255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255])
  })

  it('refuses a wrong size or channel count', () => {
    expect(() => imagePixelsToRgba(new Uint8Array(3), 2, 2, 1)).toThrow(/expected 4 bytes/)
    expect(() => imagePixelsToRgba(new Uint8Array(8), 2, 2, 2)).toThrow(/1 \(gray\) or 3/)
  })
})
