// What the classify jobs share: image batches (engine/classifiers/rows.ts, re-exported), evaluation of
// a classifier on a split (accuracy, per class, confusion, misclassified examples), and the saved
// classifier folder of a training run (config.json + model.safetensors) written and reloaded.
// Everything here runs in a job's worker thread: it reads and writes files synchronously.
import { type Classifier, type ClassifierParams } from '../../engine/classifiers/classifier.js'
import { batchTensor, predictProbabilities, rowCount, type ImageRows } from '../../engine/classifiers/rows.js'
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

export { batchTensor, PIXEL_SCALE, predictProbabilities, rowCount, saveClassifierFolder, type ImageRows, type LoadedClassifier, type SavedClassifierConfig }
import { JobError } from '../job.js'

/** A registered dataset's name, for results (its id when the row is gone). */
export function datasetName(store: Pick<Store, 'db'>, id: number): string {
  return (store.db.prepare('SELECT name FROM datasets WHERE id = ?').get(id) as { name: string } | undefined)?.name ?? `#${id}`
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
