// Image bytes as images.get sends them (base64, row-major height × width × channels, uint8; one
// channel gray, three RGB) turned into the RGBA bytes a canvas ImageData takes. Pure, so it is
// tested without a browser; drawing onto a canvas is the component's part.

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
