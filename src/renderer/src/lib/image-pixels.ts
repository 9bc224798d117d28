// Image bytes as images.get sends them (base64, row-major height × width × channels, uint8; one
// channel gray, three RGB) turned into what a page draws (canvas RGBA, or a PNG data: URL for an
// <img>), and a chosen file into the base64 classify.predict takes. One place for every page that
// shows dataset images, so they are all drawn the same way. The two pure functions are tested
// without a browser (test/unit/ui/image-pixels.test.ts).
import { bytesToBase64 } from './data-url'

/** The bytes of a base64 string (atob exists in the renderer and in Node ≥ 16). */
export function decodeBase64Pixels(base64: string): Uint8Array {
  const s = atob(base64)
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

/** Gray (1 channel) or RGB (3 channels) bytes → opaque RGBA bytes, row-major, for `new ImageData(rgba, width, height)`. */
export function imagePixelsToRgba(pixels: Uint8Array, width: number, height: number, channels: number): Uint8ClampedArray<ArrayBuffer> {
  if (channels !== 1 && channels !== 3) throw new Error(`an image has 1 (gray) or 3 (RGB) channels, not ${channels}`)
  const n = width * height
  if (pixels.length !== n * channels) throw new Error(`expected ${n * channels} bytes for ${width}×${height}×${channels}, got ${pixels.length}`)
  const rgba = new Uint8ClampedArray(n * 4)
  for (let i = 0; i < n; i++) {
    const r = pixels[i * channels]!
    rgba[4 * i] = r
    rgba[4 * i + 1] = channels === 3 ? pixels[i * 3 + 1]! : r
    rgba[4 * i + 2] = channels === 3 ? pixels[i * 3 + 2]! : r
    rgba[4 * i + 3] = 255
  }
  return rgba
}

/** A PNG data: URL of the image (drawn through a canvas, so the browser does the encoding; the CSP allows data: images, not blob:). */
export function pixelsToDataUrl(b64: string, width: number, height: number, channels: number): string {
  const canvas = document.createElement('canvas')
  canvas.width = width
  canvas.height = height
  const ctx = canvas.getContext('2d')
  if (!ctx) throw new Error('this window cannot draw images (no 2D canvas)')
  ctx.putImageData(new ImageData(imagePixelsToRgba(decodeBase64Pixels(b64), width, height, channels), width, height), 0, 0)
  return canvas.toDataURL('image/png')
}

/** A file's bytes as base64 (for classify.predict's { base64 }). */
export async function fileToBase64(file: Blob): Promise<string> {
  return bytesToBase64(new Uint8Array(await file.arrayBuffer()))
}
