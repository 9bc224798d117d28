// A saved image classifier: one folder, read by the training job (reload, predict, evaluate) and
// by the expert analysis alike, so a trained run is what the analysis reads:
//   config.json        SavedClassifierConfig (the registry's kind and config, the image shape, the
//                      class names, the pixel scaling)
//   model.safetensors  the parameters under their own names (tensors.ts paramsToTensors)
// Both files are written atomically, the weights first, so a folder with a config.json is whole.
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CLASSIFIER_CONFIG_FILE, CLASSIFIER_WEIGHTS_FILE } from '../../shared/classify.js'
import { writeFileAtomic } from '../../store/files.js'
import { SafetensorsFile, writeSafetensors } from '../safetensors.js'
import { disposeParams, type Classifier, type ClassifierParams, type ImageShape } from './classifier.js'
import { createClassifier } from './registry.js'
import { paramsFromTensors, paramsToTensors, type NamedTensor } from './tensors.js'

/** Images as the classifiers see them: the dataset's bytes divided by 255. */
export const PIXEL_SCALE = 1 / 255

/** The config.json of a saved classifier: enough to rebuild the model without the store. */
export interface SavedClassifierConfig {
  format: 'mxd-classifier'
  version: 1
  /** The classifier registry's kind ("logreg", "mlp", "mixer"). */
  model: string
  modelConfig: Record<string, unknown>
  shape: ImageShape
  classes: string[]
  /** Multiply the image bytes by this to get the model's input. */
  pixelScale: number
  /** The dataset and run it was trained from, where a training run saved it. */
  datasetId?: number
  runId?: number
}

/** A saved folder the user can fix (missing, another format, a tensor of another model): the message names the file. */
export class ClassifierFolderError extends Error {}

export interface LoadedClassifier {
  config: SavedClassifierConfig
  model: Classifier
  params: ClassifierParams
  dispose(): void
}

/** Writes config.json and model.safetensors into `dir` (made if missing), each atomically (weights first). */
export function saveClassifierFolder(dir: string, config: SavedClassifierConfig, params: ClassifierParams): void {
  mkdirSync(dir, { recursive: true })
  const metadata: Record<string, string> = { model: config.model }
  if (config.runId !== undefined) metadata.mxd_run = String(config.runId)
  writeSafetensors(join(dir, CLASSIFIER_WEIGHTS_FILE), paramsToTensors(params), metadata)
  writeFileAtomic(join(dir, CLASSIFIER_CONFIG_FILE), Buffer.from(JSON.stringify(config, null, 2) + '\n'))
}

/** Reads a saved classifier folder back (synchronous: call it in a worker or a CLI process). */
export function loadClassifierFolder(dir: string): LoadedClassifier {
  const configPath = join(dir, CLASSIFIER_CONFIG_FILE)
  let config: SavedClassifierConfig
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8')) as SavedClassifierConfig
  } catch (err) {
    throw new ClassifierFolderError(`${configPath} cannot be read (${(err as Error).message}): choose a folder a classifier training run saved (its run folder).`)
  }
  if (config?.format !== 'mxd-classifier') throw new ClassifierFolderError(`${configPath} is not a saved MxD classifier (no "format": "mxd-classifier"): choose a folder a classifier training run saved.`)
  let model: Classifier
  try {
    model = createClassifier(config.model, config.modelConfig, config.shape)
  } catch (err) {
    throw new ClassifierFolderError(`${configPath}: ${(err as Error).message}`)
  }
  let file: SafetensorsFile
  try {
    file = SafetensorsFile.open(join(dir, CLASSIFIER_WEIGHTS_FILE))
  } catch (err) {
    throw new ClassifierFolderError(`${(err as Error).message}: the folder has no readable weights; train the classifier to the end, or choose another folder.`)
  }
  let params: ClassifierParams
  try {
    const tensors: Record<string, NamedTensor> = {}
    for (const [name, info] of file.tensors) tensors[name] = { shape: info.shape, data: file.readFloat32(name) }
    params = paramsFromTensors(model, tensors)
  } catch (err) {
    throw new ClassifierFolderError(`${join(dir, CLASSIFIER_WEIGHTS_FILE)}: ${(err as Error).message}`)
  } finally {
    file.close()
  }
  return { config, model, params, dispose: () => disposeParams(params) }
}
