// What every privacy job loads first: the classifier run's saved model (w*), its dataset's
// training split (cut into D_f and D_r by the protected set) and test split, and the hashes that
// tie a certificate to exactly these images. Runs in a job's worker (synchronous reads allowed).
import { createHash } from 'node:crypto'
import { getImageDataset, loadImageSplit } from '../../data/images/registry.js'
import type { LabelledRows, PrivacySets } from '../../engine/privacy/types.js'
import type { ImageDataset } from '../../shared/images.js'
import type { ProtectedSetInfo } from '../../shared/privacy.js'
import type { Store } from '../../store/store.js'
import { loadClassifierRun, type LoadedClassifier } from '../classify/model-folder.js'
import { JobError } from '../job.js'
import { protectedInfo, ProtectedSetError, selectProtected, subsetRows, type ParsedProtectSpec } from './protected.js'

export interface PrivacyInputs {
  saved: LoadedClassifier
  dataset: ImageDataset
  classes: string[]
  train: LabelledRows
  test: LabelledRows
  forgetIndices: Uint32Array
  sets: PrivacySets
  protected: ProtectedSetInfo
  /** sha256 of each set's pixel bytes followed by its label bytes. */
  dataHashes: { forget: string; retain: string; test: string }
}

export function rowsHash(rows: LabelledRows): string {
  return createHash('sha256').update(rows.images).update(rows.labels).digest('hex')
}

async function splitRows(store: Store, datasetId: number, split: 'train' | 'test'): Promise<LabelledRows & { classes: string[] }> {
  const s = await loadImageSplit(store, datasetId, split)
  const [, height, width, channels] = s.shape
  return { images: s.images, labels: s.labels, height, width, channels, classes: s.classes }
}

/** Every training-split index not in `forget` (sorted), ascending. */
export function complement(forget: Uint32Array, n: number): Uint32Array {
  const out = new Uint32Array(n - forget.length)
  let j = 0
  let k = 0
  for (let i = 0; i < n; i++) {
    if (k < forget.length && forget[k] === i) k++
    else out[j++] = i
  }
  return out
}

/** A dataset's training and test splits as the privacy jobs read them. */
export async function trainAndTest(store: Store, datasetId: number): Promise<{ train: LabelledRows; test: LabelledRows; classes: string[] }> {
  const train = await splitRows(store, datasetId, 'train')
  const test = await splitRows(store, datasetId, 'test')
  return { train, test, classes: train.classes }
}

/** The inputs of a privacy run on classify-train run `trainRunId` with protected set `spec`. */
export async function loadPrivacyInputs(store: Store, trainRunId: number, spec: ParsedProtectSpec): Promise<PrivacyInputs> {
  const saved = loadClassifierRun(store, trainRunId)
  try {
    const datasetId = saved.config.datasetId
    if (datasetId === undefined) throw new JobError(`Run ${trainRunId}'s classifier does not record its dataset, so its training split (D_f and D_r) is unknown.`)
    const dataset = await getImageDataset(store.db, datasetId)
    if (!dataset) throw new JobError(`Image dataset #${datasetId}, which run ${trainRunId} was trained on, is no longer registered: add it again with "mxd images add PATH".`)
    const { train, test, classes } = await trainAndTest(store, datasetId)
    let sel
    try {
      sel = selectProtected(train.labels, classes.length, spec, classes)
    } catch (err) {
      throw err instanceof ProtectedSetError ? new JobError(err.message) : err
    }
    const sets: PrivacySets = { forget: subsetRows(train, sel.forget), retain: subsetRows(train, sel.retain) }
    return {
      saved,
      dataset,
      classes,
      train,
      test,
      forgetIndices: sel.forget,
      sets,
      protected: protectedInfo(spec, sel, train.labels, classes.length),
      dataHashes: { forget: rowsHash(sets.forget), retain: rowsHash(sets.retain), test: rowsHash(test) },
    }
  } catch (err) {
    saved.dispose()
    throw err
  }
}
