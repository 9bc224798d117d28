// Raw image bytes (as images.get sends them: row-major height × width × channels, 1 gray or 3 RGB,
// base64) to something an <img> shows, and a chosen file to the base64 classify.predict takes.
// One place for both, so every page that shows dataset images draws them the same way.

/** The bytes as RGBA, the layout a canvas's ImageData wants. */
export function toRgba(pixels: Uint8Array, width: number, height: number, channels: number): Uint8ClampedArray<ArrayBuffer> {
  const n = width * height
  if (pixels.length !== n * channels) throw new Error(`expected ${n * channels} bytes for a ${width}×${height}×${channels} image, got ${pixels.length}`)
  const out = new Uint8ClampedArray(4 * n)
  for (let p = 0; p < n; p++) {
    const src = p * channels
    out[4 * p] = pixels[src]!
    out[4 * p + 1] = pixels[channels === 1 ? src : src + 1]!
    out[4 * p + 2] = pixels[channels === 1 ? src : src + 2]!
    out[4 * p + 3] = 255
  }
  return out
}

export function base64ToBytes(b64: string): Uint8Array {
  const s = atob(b64)
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

/** A PNG data: URL of the image (drawn through a canvas, so the browser does the encoding). */
export function pixelsToDataUrl(b64: string, width: number, height: number, channels: number): string {
  const canvas = document.createElement('canvas')
  canvas.width = width
  canvas.height = height
  const ctx = canvas.getContext('2d')
  if (!ctx) throw new Error('this window cannot draw images (no 2D canvas)')
  ctx.putImageData(new ImageData(toRgba(base64ToBytes(b64), width, height, channels), width, height), 0, 0)
  return canvas.toDataURL('image/png')
}

/** A file's bytes as base64 (for classify.predict's { base64 }). */
export async function fileToBase64(file: Blob): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer())
  let s = ''
  // In chunks: String.fromCharCode with one argument per byte overflows the stack on large files.
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}
