// The saved classifier the expert analysis reads: the folder a classifier training run saves
// (engine/classifiers/folder.ts), which must hold an MLP-Mixer with CPμMoE or TRμMoE channel
// mixing. Any problem is an ImageExpertsError naming the folder and what to do.
import type { ClassifierParams, ImageShape } from '../../engine/classifiers/classifier.js'
import { ClassifierFolderError, loadClassifierFolder, PIXEL_SCALE, saveClassifierFolder } from '../../engine/classifiers/folder.js'
import { mixerSchema, type MixerConfig } from '../../engine/classifiers/mixer.js'
import type { Classifier } from '../../engine/classifiers/classifier.js'

/** A problem with the classifier folder or the data that the user can fix. */
export class ImageExpertsError extends Error {}

export interface SavedMixer {
  config: MixerConfig
  shape: ImageShape
  model: Classifier
  params: ClassifierParams
}

/** The μMoE mixer saved in `dir`, its parameters loaded (caller disposes them). */
export async function loadMixerFolder(dir: string): Promise<SavedMixer> {
  let loaded
  try {
    loaded = loadClassifierFolder(dir)
  } catch (err) {
    throw err instanceof ClassifierFolderError ? new ImageExpertsError(err.message) : err
  }
  const { config: saved, model, params } = loaded
  if (saved.model !== 'mixer') {
    loaded.dispose()
    throw new ImageExpertsError(`${dir} holds a ${saved.model} classifier: the expert analysis needs an MLP-Mixer with CPμMoE or TRμMoE channel mixing`)
  }
  const config = mixerSchema.parse(saved.modelConfig)
  if (config.mlp === 'dense') {
    loaded.dispose()
    throw new ImageExpertsError(`${dir} is a dense mixer: the expert analysis needs CPμMoE or TRμMoE channel mixing`)
  }
  return { config, shape: saved.shape, model, params }
}

/** Writes a mixer as a training run saves one (tests and scripts/image-experts-report.ts). */
export async function saveMixerFolder(dir: string, m: Pick<SavedMixer, 'config' | 'shape' | 'params'>, classes?: string[]): Promise<void> {
  saveClassifierFolder(
    dir,
    {
      format: 'mxd-classifier',
      version: 1,
      model: 'mixer',
      modelConfig: m.config as unknown as Record<string, unknown>,
      shape: m.shape,
      classes: classes ?? Array.from({ length: m.shape.classes }, (_, i) => String(i)),
      pixelScale: PIXEL_SCALE,
    },
    m.params,
  )
}
