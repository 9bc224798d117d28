// Expert specialisation of a μMoE MLP-Mixer on images (issue 13): run the mixer in eval mode over
// one split of an image dataset, batch by batch; from every block's gate coefficients a [B, P, N]
// (the forward's onGate) take each image's weight per expert as the mean over its P patch tokens,
// and feed those [B, N] rows to the streaming accumulator (accumulate.ts), which keeps each
// expert's total, per-class mass and top images. Only one batch's gates exist at a time.
import { tf } from '../../engine/backend.js'
import type { Classifier, ClassifierParams } from '../../engine/classifiers/classifier.js'
import type { MixerConfig } from '../../engine/classifiers/mixer.js'
import type { ImageExpertAnalysis } from '../../shared/image-experts.js'
import type { ImageSplitName } from '../../shared/images.js'
import { ImageExpertsAccumulator } from './accumulate.js'
import { PIXEL_SCALE } from '../../engine/classifiers/folder.js'
import { ImageExpertsError } from './folder.js'


export interface ImageData {
  /** n × h × w × c pixel bytes. */
  images: Uint8Array
  shape: readonly [number, number, number, number]
  labels: Uint8Array
  classes: readonly string[]
}

export interface ImageExpertsOptions {
  batch?: number
  /** Only the first N images. */
  maxImages?: number
  onProgress?: (done: number, total: number) => void
  cancelled?: () => boolean
}

/** Images first … first+count−1 of `data` as a float batch [count, h, w, c] scaled by PIXEL_SCALE. */
export function imageBatch(data: ImageData, first: number, count: number): tf.Tensor4D {
  const [, h, w, c] = data.shape
  const size = h * w * c
  const pixels = new Float32Array(count * size)
  const bytes = data.images.subarray(first * size, (first + count) * size)
  for (let i = 0; i < pixels.length; i++) pixels[i] = (bytes[i] as number) * PIXEL_SCALE
  return tf.tensor4d(pixels, [count, h, w, c])
}

/** Each μMoE block's per-image gate weights [B, N] (mean over the patch tokens) for one batch. */
export async function pooledGates(model: Classifier, params: ClassifierParams, images: tf.Tensor4D): Promise<Float32Array[]> {
  const pooled: tf.Tensor[] = []
  tf.tidy(() => {
    model.forward(params, images, { training: false, onGate: (block, a) => void (pooled[block] = tf.keep(tf.mean(a, 1))) })
  })
  try {
    return await Promise.all(pooled.map(async (t) => (await t.data()) as Float32Array))
  } finally {
    tf.dispose(pooled)
  }
}

export interface MixerToAnalyse {
  config: MixerConfig
  model: Classifier
  params: ClassifierParams
}

/** The analysis of `mixer` over `data`; null when cancelled. */
export async function analyzeImageExperts(
  mixer: MixerToAnalyse,
  data: ImageData,
  about: { model: string; datasetId: number; split: ImageSplitName },
  o: ImageExpertsOptions = {},
): Promise<ImageExpertAnalysis | null> {
  const c = mixer.config
  if (c.mlp === 'dense') throw new ImageExpertsError(`${about.model} is a dense mixer: the expert analysis needs CPμMoE or TRμMoE channel mixing`)
  const [n0, h, w, ch] = data.shape
  const s = mixer.model.shape
  if (h !== s.height || w !== s.width || ch !== s.channels || data.classes.length !== s.classes) {
    throw new ImageExpertsError(
      `the mixer takes ${s.height}×${s.width}×${s.channels} images in ${s.classes} classes, the data has ${h}×${w}×${ch} in ${data.classes.length}: choose the dataset it was trained on`,
    )
  }
  const total = Math.min(n0, o.maxImages ?? n0)
  if (total === 0) throw new ImageExpertsError(`the ${about.split} split of dataset #${about.datasetId} has no images`)
  const batch = o.batch ?? 256
  const acc = new ImageExpertsAccumulator(c.depth, c.experts, data.classes)
  for (let first = 0; first < total; first += batch) {
    if (o.cancelled?.()) return null
    const count = Math.min(batch, total - first)
    const images = imageBatch(data, first, count)
    try {
      acc.add(await pooledGates(mixer.model, mixer.params, images), data.labels.subarray(first, first + count))
    } finally {
      images.dispose()
    }
    o.onProgress?.(first + count, total)
  }
  return acc.finish({
    model: about.model,
    mlp: c.mlp,
    patches: (h / c.patch) * (w / c.patch),
    data: { datasetId: about.datasetId, split: about.split, images: total },
  })
}
