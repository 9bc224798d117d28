// The `image-experts` job: the expert-specialisation analysis of a saved μMoE MLP-Mixer on one
// split of a registered image dataset (src/analysis/image-experts), written as image-experts.json
// in the run's folder, where classify.getExperts reads it. Progress counts images; a cancelled
// run writes nothing.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { analyzeImageExperts } from '../analysis/image-experts/analyze.js'
import { ImageExpertsError, loadMixerFolder } from '../analysis/image-experts/folder.js'
import { DatasetError } from '../data/formats.js'
import { loadImageSplit } from '../data/images/registry.js'
import { disposeParams } from '../engine/classifiers/classifier.js'
import { ImageExpertsConfig, type ImageExpertAnalysis } from '../shared/image-experts.js'
import type { Store } from '../store/store.js'
import { writeFileAtomic } from '../store/files.js'
import { defineJob, JobError, type JobContext } from './job.js'

const RESULT_FILE = 'image-experts.json'

export const imageExpertsJob = defineJob('image-experts', ImageExpertsConfig, imageExperts)

async function imageExperts(ctx: JobContext<ImageExpertsConfig>): Promise<void> {
  const c = ctx.config
  const started = performance.now()
  let analysis: ImageExpertAnalysis | null
  try {
    const mixer = await loadMixerFolder(c.model)
    try {
      const data = await loadImageSplit(ctx.store, c.datasetId, c.split)
      ctx.log('info', `Reading the gates of ${c.model} (${mixer.config.experts} experts × ${mixer.config.depth} blocks) over the ${c.split} split of dataset #${c.datasetId}.`)
      analysis = await analyzeImageExperts(
        mixer,
        data,
        { model: c.model, datasetId: c.datasetId, split: c.split },
        {
          batch: c.batch,
          maxImages: c.maxImages,
          cancelled: () => ctx.cancelled(),
          onProgress: (done, total) => {
            const perSecond = done / ((performance.now() - started) / 1000)
            ctx.progress({ unit: 'images', done, total, perSecond, etaSeconds: perSecond > 0 ? (total - done) / perSecond : null })
          },
        },
      )
    } finally {
      disposeParams(mixer.params)
    }
  } catch (err) {
    // A missing or wrong classifier folder, a dense mixer, a missing dataset: the user's to fix.
    if (err instanceof ImageExpertsError || err instanceof DatasetError) throw new JobError(err.message)
    throw err
  }
  if (!analysis) return
  writeFileAtomic(join(ctx.store.runDir(ctx.runId), RESULT_FILE), new TextEncoder().encode(JSON.stringify(analysis)))
  const s = analysis.summary
  const metrics = { dominated: s.dominated, active: s.active, mean_class_entropy: s.meanClassEntropy }
  ctx.store.addMetrics(ctx.runId, 0, metrics)
  const message = `${s.active}/${s.experts} experts active, ${(100 * s.dominated).toFixed(0)}% of them dominated by one class`
  ctx.progress({ unit: 'images', done: analysis.data.images, total: analysis.data.images, message, metrics })
  ctx.log('info', `${message} (${analysis.data.images} images).`)
}

/** The analysis an `image-experts` run wrote, or null while it has none. */
export function readImageExperts(store: Store, runId: number): ImageExpertAnalysis | null {
  const path = join(store.runDir(runId), RESULT_FILE)
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ImageExpertAnalysis) : null
}
