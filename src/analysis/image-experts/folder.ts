// A saved image classifier as the expert analysis reads it: a folder with
//   config.json        { "kind": "mixer", "config": { …mixer config… }, "shape": { height, width, channels, classes } }
//   model.safetensors  the parameters under their own names (engine/classifiers/tensors.ts paramsToTensors)
// Any problem (a missing file, a config the registry refuses, a tensor of the wrong model) is an
// ImageExpertsError naming the folder and what to do.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { createClassifier } from '../../engine/classifiers/registry.js'
import type { Classifier, ClassifierParams, ImageShape } from '../../engine/classifiers/classifier.js'
import { mixerSchema, type MixerConfig } from '../../engine/classifiers/mixer.js'
import { paramsFromTensors, paramsToTensors, type NamedTensor } from '../../engine/classifiers/tensors.js'
import { SafetensorsFile, writeSafetensors } from '../../engine/safetensors.js'

const dim = z.number().int().min(1).max(65_536)
const SavedShape = z.object({ height: dim, width: dim, channels: dim, classes: dim })

/** A problem with the classifier folder or the data that the user can fix. */
export class ImageExpertsError extends Error {}

export const CLASSIFIER_CONFIG_FILE = 'config.json'
export const CLASSIFIER_WEIGHTS_FILE = 'model.safetensors'

export interface SavedMixer {
  config: MixerConfig
  shape: ImageShape
  model: Classifier
  params: ClassifierParams
}

/** The μMoE mixer saved in `dir`, its parameters loaded (caller disposes them). */
export async function loadMixerFolder(dir: string): Promise<SavedMixer> {
  let saved: { kind?: unknown; config?: unknown; shape?: unknown }
  try {
    saved = JSON.parse(await readFile(join(dir, CLASSIFIER_CONFIG_FILE), 'utf8')) as typeof saved
  } catch (err) {
    throw new ImageExpertsError(`${dir} has no readable ${CLASSIFIER_CONFIG_FILE} (${(err as Error).message}): choose a saved classifier folder`)
  }
  if (saved.kind !== 'mixer') throw new ImageExpertsError(`${dir} holds a ${String(saved.kind)} classifier: the expert analysis needs an MLP-Mixer with CPμMoE or TRμMoE channel mixing`)
  const parsed = mixerSchema.safeParse(saved.config)
  if (!parsed.success) throw new ImageExpertsError(`${dir}/${CLASSIFIER_CONFIG_FILE}: the mixer config is invalid (${parsed.error.issues[0]?.message ?? 'unknown'})`)
  const config = parsed.data
  if (config.mlp === 'dense') throw new ImageExpertsError(`${dir} is a dense mixer: the expert analysis needs CPμMoE or TRμMoE channel mixing`)
  const shapeParsed = SavedShape.safeParse(saved.shape)
  if (!shapeParsed.success) throw new ImageExpertsError(`${dir}/${CLASSIFIER_CONFIG_FILE}: "shape" must give the image height, width, channels and classes`)
  const shape: ImageShape = shapeParsed.data
  let model: Classifier
  try {
    model = createClassifier('mixer', config, shape)
  } catch (err) {
    throw new ImageExpertsError(`${dir}/${CLASSIFIER_CONFIG_FILE}: ${(err as Error).message}`)
  }
  const tensors: Record<string, NamedTensor> = {}
  let file: SafetensorsFile
  try {
    file = SafetensorsFile.open(join(dir, CLASSIFIER_WEIGHTS_FILE))
  } catch (err) {
    throw new ImageExpertsError(`${(err as Error).message}: choose a saved classifier folder`)
  }
  try {
    for (const [name, info] of file.tensors) tensors[name] = { shape: info.shape, data: file.readFloat32(name) }
  } finally {
    file.close()
  }
  try {
    return { config, shape, model, params: paramsFromTensors(model, tensors) }
  } catch (err) {
    throw new ImageExpertsError(`${dir}/${CLASSIFIER_WEIGHTS_FILE}: ${(err as Error).message}`)
  }
}

/** Writes a mixer in the layout loadMixerFolder reads (tests and scripts/image-experts-report.ts). */
export async function saveMixerFolder(dir: string, m: Pick<SavedMixer, 'config' | 'shape' | 'params'>): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, CLASSIFIER_CONFIG_FILE), JSON.stringify({ kind: 'mixer', config: m.config, shape: m.shape }, null, 2))
  writeSafetensors(join(dir, CLASSIFIER_WEIGHTS_FILE), paramsToTensors(m.params))
}
