// Decodes an image folder's PNG and JPEG files off the server's event loop (a worker thread),
// into one uint8 buffer of n × height × width × 3 (RGB; alpha is dropped). Plain JavaScript so
// the thread needs no TypeScript loader. Its one message back is either
// { ok: true, pixels, height, width, channels } (channels 'auto': 1 when every pixel of every
// image has R = G = B, else 3) or
// { ok: false, file, message, kind } naming the first file that could not be used. Each file's
// size, modification time and sha256 come back too (the registry records them): hashing here,
// from the bytes already read, is ~30× faster than streaming each small file again.
import { createHash } from 'node:crypto'
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs'
import { workerData, parentPort } from 'node:worker_threads'
import jpeg from 'jpeg-js'
import { PNG } from 'pngjs'

/** The most decoded RGB bytes one dataset may need: the cache is read back into memory whole. */
const MAX_DECODED_BYTES = 4 * 2 ** 30

/** @param {string} file @param {Buffer} bytes */
function decode(file, bytes) {
  const lower = file.toLowerCase()
  if (lower.endsWith('.png')) {
    const png = PNG.sync.read(bytes)
    return { width: png.width, height: png.height, rgba: png.data }
  }
  // maxMemoryUsageInMB: a hostile JPEG header cannot ask for gigabytes.
  const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 })
  return { width: img.width, height: img.height, rgba: img.data }
}

/** RGB → one channel in place: exact when R = G = B, else ITU-R BT.601 luma (as PIL's "L" mode). */
function toGray(rgb) {
  const n = rgb.length / 3
  for (let i = 0, j = 0; i < n; i++, j += 3) rgb[i] = Math.round((rgb[j] * 299 + rgb[j + 1] * 587 + rgb[j + 2] * 114) / 1000)
  return rgb.slice(0, n)
}

/** @param {{ files: string[], channels: 1 | 3 | 'auto' }} data */
function run(data) {
  let pixels = null
  let width = 0
  let height = 0
  let first = ''
  let gray = true
  const files = []
  for (let n = 0; n < data.files.length; n++) {
    const file = data.files[n]
    let img
    try {
      const fd = openSync(file, 'r')
      let bytes
      try {
        const st = fstatSync(fd)
        bytes = readFileSync(fd)
        files.push({ bytes: st.size, mtimeMs: st.mtimeMs, sha256: createHash('sha256').update(bytes).digest('hex') })
      } finally {
        closeSync(fd)
      }
      img = decode(file, bytes)
    } catch (err) {
      return { ok: false, file, kind: 'corrupt', message: err instanceof Error ? err.message : String(err) }
    }
    if (pixels === null) {
      width = img.width
      height = img.height
      first = file
      const need = data.files.length * width * height * 3
      if (need > MAX_DECODED_BYTES) return { ok: false, file, kind: 'too-large', message: `${data.files.length} images of ${width}×${height}`, expected: String(need) }
      pixels = new Uint8Array(need)
    } else if (img.width !== width || img.height !== height) {
      return { ok: false, file, kind: 'size', message: `${img.width}×${img.height}`, first, expected: `${width}×${height}` }
    }
    const base = n * width * height * 3
    const rgba = img.rgba
    for (let p = 0, q = base; p < rgba.length; p += 4, q += 3) {
      const r = rgba[p]
      const g = rgba[p + 1]
      const b = rgba[p + 2]
      pixels[q] = r
      pixels[q + 1] = g
      pixels[q + 2] = b
      if (r !== g || g !== b) gray = false
    }
  }
  const channels = data.channels === 'auto' ? (gray ? 1 : 3) : data.channels
  const rgb = pixels ?? new Uint8Array(0)
  return { ok: true, pixels: channels === 1 ? toGray(rgb) : rgb, width, height, channels, files }
}

const result = run(workerData)
parentPort.postMessage(result, result.ok ? [result.pixels.buffer] : [])
