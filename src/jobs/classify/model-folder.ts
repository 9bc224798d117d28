// What the classify jobs share: image batches as tensors (pixels scaled to [0, 1]), evaluation of
// a classifier on a split (accuracy, per class, confusion, misclassified examples), and the saved
// classifier folder of a training run (config.json + model.safetensors) written and reloaded.
// Everything here runs in a job's worker thread: it reads and writes files synchronously.
import { tf } from '../../engine/backend.js'
import { type Classifier, type ClassifierParams } from '../../engine/classifiers/classifier.js'
import { classifierLogits } from '../../engine/classifiers/train.js'
import {
  ClassifierFolderError,
  loadClassifierFolder as loadFolder,
  PIXEL_SCALE,
  saveClassifierFolder,
  type LoadedClassifier,
  type SavedClassifierConfig,
} from '../../engine/classifiers/folder.js'
import { type ClassifyEvaluation, type Misclassified } from '../../shared/classify.js'
import type { Store } from '../../store/store.js'

export { PIXEL_SCALE, saveClassifierFolder, type LoadedClassifier, type SavedClassifierConfig }
import { JobError } from '../job.js'

/** A registered dataset's name, for results (its id when the row is gone). */
export function datasetName(store: Pick<Store, 'db'>, id: number): string {
  return (store.db.prepare('SELECT name FROM datasets WHERE id = ?').get(id) as { name: string } | undefined)?.name ?? `#${id}`
}


/** Rows of a split held as bytes: n images of h×w×c, with their labels. */
export interface ImageRows {
  images: Uint8Array
  labels: Uint8Array
  height: number
  width: number
  channels: number
}

export const rowCount = (rows: ImageRows): number => rows.labels.length

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

const EVAL_BATCH = 256

/** Eval-mode class probabilities of every row, [n × classes] row-major. */
export function predictProbabilities(model: Classifier, params: ClassifierParams, rows: ImageRows): Float32Array {
  const n = rowCount(rows)
  const k = model.shape.classes
  const out = new Float32Array(n * k)
  for (let start = 0; start < n; start += EVAL_BATCH) {
    const idx = Array.from({ length: Math.min(EVAL_BATCH, n - start) }, (_, j) => start + j)
    const { images } = batchTensor(rows, idx)
    const probs = tf.tidy(() => tf.softmax(classifierLogits(model, params, images)))
    out.set(probs.dataSync() as Float32Array, start * k)
    tf.dispose([images, probs])
  }
  return out
}

/** Accuracy, per-class accuracy, confusion matrix and the first `maxMisclassified` errors. */
export function evaluateRows(
  model: Classifier,
  params: ClassifierParams,
  rows: ImageRows,
  meta: { dataset: ClassifyEvaluation['dataset']; classes: string[]; maxMisclassified: number },
): ClassifyEvaluation {
  const k = model.shape.classes
  const probs = predictProbabilities(model, params, rows)
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0))
  const misclassified: Misclassified[] = []
  let correct = 0
  for (let i = 0; i < rowCount(rows); i++) {
    const p = probs.subarray(i * k, (i + 1) * k)
    let best = 0
    for (let c = 1; c < k; c++) if (p[c]! > p[best]!) best = c
    const label = rows.labels[i]!
    confusion[label]![best]!++
    if (best === label) correct++
    else if (misclassified.length < meta.maxMisclassified) misclassified.push({ index: i, label, predicted: best, probabilities: Array.from(p) })
  }
  const perClass = confusion.map((row, c) => {
    const images = row.reduce((a, b) => a + b, 0)
    return { images, correct: row[c]!, accuracy: images === 0 ? null : row[c]! / images }
  })
  const n = rowCount(rows)
  return { dataset: meta.dataset, classes: meta.classes, images: n, correct, accuracy: n === 0 ? 0 : correct / n, perClass, confusion, misclassified }
}

/** A saved classifier folder (engine/classifiers/folder.ts), its problems as the job's errors. */
export function loadClassifierFolder(dir: string): LoadedClassifier {
  try {
    return loadFolder(dir)
  } catch (err) {
    throw err instanceof ClassifierFolderError ? new JobError(err.message) : err
  }
}

/** The saved classifier of classify-train run `runId` (its run folder). */
export function loadClassifierRun(store: Pick<Store, 'getRun' | 'runDir'>, runId: number): LoadedClassifier {
  const run = store.getRun(runId)
  if (!run || run.kind !== 'classify-train') throw new JobError(`Run ${runId} is not a classifier training run: list the runs with "mxd runs".`)
  if (run.status !== 'succeeded') throw new JobError(`Classifier run ${runId} is ${run.status}, not finished: its model is saved at the end of training (resume it with "mxd classify train --resume ${runId}").`)
  return loadClassifierFolder(store.runDir(runId))
}
