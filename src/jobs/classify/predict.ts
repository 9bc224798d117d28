// classify.predict's engine half, run on the engine worker: one image (a PNG/JPEG file's bytes,
// or raw uint8 pixels with their shape) through a saved classifier, giving class probabilities.
// The classifier folder is kept loaded between calls (keyed by its folder and the files' stamps),
// since the predict box is used image after image on the same model.
import { statSync } from 'node:fs'
import { join } from 'node:path'
import jpeg from 'jpeg-js'
import { PNG } from 'pngjs'
import { CLASSIFIER_WEIGHTS_FILE } from '../../shared/classify.js'
import { loadClassifierFolder, predictProbabilities, type LoadedClassifier } from './model-folder.js'

export interface PredictRequest {
  /** The classify-train run's folder (config.json + model.safetensors). */
  dir: string
  /** An encoded PNG or JPEG file, or raw pixels (row-major, channels last) with their shape. */
  image: { encoded: Uint8Array } | { pixels: Uint8Array; height: number; width: number; channels: number }
}

export interface PredictResult {
  classes: string[]
  probabilities: number[]
  predicted: number
}

let cached: { dir: string; stamp: string; loaded: LoadedClassifier } | undefined

function classifierFor(dir: string): LoadedClassifier {
  const stat = statSync(join(dir, CLASSIFIER_WEIGHTS_FILE))
  const stamp = `${stat.size}:${stat.mtimeMs}`
  if (cached?.dir === dir && cached.stamp === stamp) return cached.loaded
  cached?.loaded.dispose()
  cached = undefined
  const loaded = loadClassifierFolder(dir)
  cached = { dir, stamp, loaded }
  return loaded
}

/** RGBA (or the given channels) decoded from a PNG or JPEG, by its magic bytes. */
function decode(bytes: Uint8Array): { pixels: Uint8Array; height: number; width: number; channels: number } {
  const isPng = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47
  const isJpeg = bytes[0] === 0xff && bytes[1] === 0xd8
  if (!isPng && !isJpeg) throw new Error('The image is neither a PNG nor a JPEG file: give a .png or .jpg image, or raw pixels with their shape.')
  try {
    if (isPng) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
      return { pixels: new Uint8Array(png.data), height: png.height, width: png.width, channels: 4 }
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 64 })
    return { pixels: img.data, height: img.height, width: img.width, channels: 4 }
  } catch (err) {
    throw new Error(`The ${isPng ? 'PNG' : 'JPEG'} image cannot be decoded (${(err as Error).message}): it is corrupt or truncated.`, { cause: err })
  }
}

/**
 * Pixels converted to `want` channels: RGBA/RGB drop alpha; to one channel by BT.601 luma (as the
 * image-folder reader converts colour folders), one to three by repeating it.
 */
function toChannels(img: { pixels: Uint8Array; height: number; width: number; channels: number }, want: number): Uint8Array {
  const n = img.height * img.width
  if (img.channels === want) return img.pixels
  const out = new Uint8Array(n * want)
  for (let i = 0; i < n; i++) {
    const at = i * img.channels
    const r = img.pixels[at]!
    const g = img.channels >= 3 ? img.pixels[at + 1]! : r
    const b = img.channels >= 3 ? img.pixels[at + 2]! : r
    if (want === 1) out[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b)
    else for (const [k, v] of [r, g, b].entries()) out[i * 3 + k] = v
  }
  return out
}

export function predictImage(req: PredictRequest): PredictResult {
  const { config, model, params } = classifierFor(req.dir)
  const img = 'encoded' in req.image ? decode(req.image.encoded) : req.image
  const { height, width, channels } = config.shape
  if (img.height !== height || img.width !== width) {
    throw new Error(`The image is ${img.height}×${img.width} pixels but this classifier takes ${height}×${width}: resize it first.`)
  }
  if (img.pixels.length !== img.height * img.width * img.channels) throw new Error(`The pixels hold ${img.pixels.length} bytes, not ${img.height}×${img.width}×${img.channels}.`)
  const pixels = toChannels(img, channels)
  const probabilities = Array.from(predictProbabilities(model, params, { images: pixels, labels: new Uint8Array(1), height, width, channels }))
  let predicted = 0
  for (let c = 1; c < probabilities.length; c++) if (probabilities[c]! > probabilities[predicted]!) predicted = c
  return { classes: config.classes, probabilities, predicted }
}
