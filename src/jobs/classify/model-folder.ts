// What the classify jobs share: image batches as tensors (pixels scaled to [0, 1]), evaluation of
// a classifier on a split (accuracy, per class, confusion, misclassified examples), and the saved
// classifier folder of a training run (config.json + model.safetensors) written and reloaded.
// Everything here runs in a job's worker thread: it reads and writes files synchronously.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tf } from '../../engine/backend.js'
import { disposeParams, type Classifier, type ClassifierParams, type ImageShape } from '../../engine/classifiers/classifier.js'
import { createClassifier } from '../../engine/classifiers/registry.js'
import { paramsFromTensors, paramsToTensors, type NamedTensor } from '../../engine/classifiers/tensors.js'
import { classifierLogits } from '../../engine/classifiers/train.js'
import { SafetensorsFile, writeSafetensors } from '../../engine/safetensors.js'
import {
  CLASSIFIER_CONFIG_FILE,
  CLASSIFIER_WEIGHTS_FILE,
  type ClassifyEvaluation,
  type Misclassified,
} from '../../shared/classify.js'
import { writeFileAtomic } from '../../store/files.js'
import type { Store } from '../../store/store.js'
import { JobError } from '../job.js'

/** A registered dataset's name, for results (its id when the row is gone). */
export function datasetName(store: Pick<Store, 'db'>, id: number): string {
  return (store.db.prepare('SELECT name FROM datasets WHERE id = ?').get(id) as { name: string } | undefined)?.name ?? `#${id}`
}

/** Images as the classifiers see them: the dataset's bytes divided by 255. */
export const PIXEL_SCALE = 1 / 255

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

/** The config.json of a saved classifier: enough to rebuild the model without the store. */
export interface SavedClassifierConfig {
  format: 'mxd-classifier'
  version: 1
  model: string
  modelConfig: Record<string, unknown>
  shape: ImageShape
  classes: string[]
  /** Multiply the image bytes by this to get the model's input. */
  pixelScale: number
  datasetId: number
  runId: number
}

/** Writes config.json and model.safetensors into `dir`, each atomically (weights first). */
export function saveClassifierFolder(dir: string, config: SavedClassifierConfig, params: ClassifierParams): void {
  writeSafetensors(join(dir, CLASSIFIER_WEIGHTS_FILE), paramsToTensors(params), { mxd_run: String(config.runId), model: config.model })
  writeFileAtomic(join(dir, CLASSIFIER_CONFIG_FILE), Buffer.from(JSON.stringify(config, null, 2) + '\n'))
}

export interface LoadedClassifier {
  config: SavedClassifierConfig
  model: Classifier
  params: ClassifierParams
  dispose(): void
}

/** Reads a saved classifier folder back (worker side: synchronous file reads). */
export function loadClassifierFolder(dir: string): LoadedClassifier {
  let config: SavedClassifierConfig
  try {
    config = JSON.parse(readFileSync(join(dir, CLASSIFIER_CONFIG_FILE), 'utf8')) as SavedClassifierConfig
  } catch (err) {
    throw new JobError(`${join(dir, CLASSIFIER_CONFIG_FILE)} cannot be read (${(err as Error).message}): the run has no saved classifier; train it to the end first.`)
  }
  if (config.format !== 'mxd-classifier') throw new JobError(`${join(dir, CLASSIFIER_CONFIG_FILE)} is not a saved MxD classifier.`)
  const model = createClassifier(config.model, config.modelConfig, config.shape)
  const file = SafetensorsFile.open(join(dir, CLASSIFIER_WEIGHTS_FILE))
  let params: ClassifierParams
  try {
    const tensors: Record<string, NamedTensor> = {}
    for (const [name, info] of file.tensors) tensors[name] = { shape: info.shape, data: file.readFloat32(name) }
    params = paramsFromTensors(model, tensors)
  } finally {
    file.close()
  }
  return { config, model, params, dispose: () => disposeParams(params) }
}

/** The saved classifier of classify-train run `runId` (its run folder). */
export function loadClassifierRun(store: Pick<Store, 'getRun' | 'runDir'>, runId: number): LoadedClassifier {
  const run = store.getRun(runId)
  if (!run || run.kind !== 'classify-train') throw new JobError(`Run ${runId} is not a classifier training run: list the runs with "mxd runs".`)
  if (run.status !== 'succeeded') throw new JobError(`Classifier run ${runId} is ${run.status}, not finished: its model is saved at the end of training (resume it with "mxd classify train --resume ${runId}").`)
  return loadClassifierFolder(store.runDir(runId))
}
