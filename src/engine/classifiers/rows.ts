// Labelled image rows held as bytes (the datasets' cache form) and what every consumer does with
// them: a batch as a float tensor (bytes × PIXEL_SCALE, so pixels lie in [0, 1]), and eval-mode
// logits or probabilities of every row, computed in bounded batches so a whole split never
// becomes one tensor. The classify jobs and the privacy engine both read data through here.
import { tf } from '../backend.js'
import type { Classifier, ClassifierParams } from './classifier.js'
import { PIXEL_SCALE } from './folder.js'
import { classifierLogits } from './train.js'

/** Rows of a split held as bytes: n images of h×w×c (channels last), with their labels. */
export interface ImageRows {
  images: Uint8Array
  labels: Uint8Array
  height: number
  width: number
  channels: number
}

export const rowCount = (rows: ImageRows): number => rows.labels.length

/** Rows per eval-mode forward: large enough to keep the kernels busy, small enough to bound memory. */
export const EVAL_BATCH = 256

/** The images at `indices` as a float tensor [B, H, W, C] in [0, 1], and their labels. */
export function batchTensor(rows: ImageRows, indices: ArrayLike<number>): { images: tf.Tensor4D; labels: Int32Array } {
  const size = rows.height * rows.width * rows.channels
  const data = new Float32Array(indices.length * size)
  const labels = new Int32Array(indices.length)
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b]!
    const src = rows.images.subarray(i * size, (i + 1) * size)
    for (let k = 0; k < size; k++) data[b * size + k] = src[k]! * PIXEL_SCALE
    labels[b] = rows.labels[i]!
  }
  return { images: tf.tensor4d(data, [indices.length, rows.height, rows.width, rows.channels]), labels }
}

/** The row indices start … start+count−1 (a batch in stored order). */
export const rangeIndices = (start: number, count: number): Int32Array => Int32Array.from({ length: count }, (_, j) => start + j)

/** Eval-mode values `f(logits)` of every row, [n × width] row-major, EVAL_BATCH rows per forward. */
function mapRows(model: Classifier, params: ClassifierParams, rows: ImageRows, f: (logits: tf.Tensor2D) => tf.Tensor2D): Float32Array {
  const n = rowCount(rows)
  const k = model.shape.classes
  const out = new Float32Array(n * k)
  for (let start = 0; start < n; start += EVAL_BATCH) {
    const { images } = batchTensor(rows, rangeIndices(start, Math.min(EVAL_BATCH, n - start)))
    const values = tf.tidy(() => f(classifierLogits(model, params, images)))
    out.set(values.dataSync() as Float32Array, start * k)
    tf.dispose([images, values])
  }
  return out
}

/** Eval-mode logits of every row, [n × classes] row-major. */
export const predictLogits = (model: Classifier, params: ClassifierParams, rows: ImageRows): Float32Array =>
  mapRows(model, params, rows, (z) => z)

/** Eval-mode class probabilities of every row, [n × classes] row-major. */
export const predictProbabilities = (model: Classifier, params: ClassifierParams, rows: ImageRows): Float32Array =>
  mapRows(model, params, rows, (z) => tf.softmax(z))

/** The fraction of rows whose highest value in `scores` ([n × classes]) is at their label (the first maximum wins ties). */
export function accuracyOf(scores: Float32Array, labels: ArrayLike<number>, classes: number): number {
  const n = labels.length
  if (n === 0) return 0
  let correct = 0
  for (let i = 0; i < n; i++) {
    let best = 0
    for (let c = 1; c < classes; c++) if (scores[i * classes + c]! > scores[i * classes + best]!) best = c
    if (best === labels[i]) correct++
  }
  return correct / n
}
