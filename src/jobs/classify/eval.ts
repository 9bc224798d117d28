// The `classify-eval` job: a finished classify-train run's saved classifier on one split of an
// image dataset (its own by default, or another of the same image shape and classes). Writes
// evaluation.json (accuracy, per class, confusion matrix, misclassified examples) in its run folder
// and records the accuracy as a metric. A job rather than a handler so that loading the model
// and the forward over thousands of images stay off the server's event loop.
import { join } from 'node:path'
import { loadImageSplit } from '../../data/images/registry.js'
import { CLASSIFY_EVAL_FILE, ClassifyEvalConfig } from '../../shared/classify.js'
import { writeFileAtomic } from '../../store/files.js'
import { defineJob, JobError, type JobContext } from '../job.js'
import { datasetName, evaluateRows, loadClassifierRun } from './model-folder.js'

export async function classifyEval(ctx: JobContext<ClassifyEvalConfig>): Promise<void> {
  const c = ctx.config
  const saved = loadClassifierRun(ctx.store, c.trainRunId)
  try {
    const datasetId = c.dataset ?? saved.config.datasetId
    if (datasetId === undefined) throw new JobError(`Run ${c.trainRunId}'s classifier does not record its dataset: give the images to evaluate on.`)
    const split = await loadImageSplit(ctx.store, datasetId, c.split)
    const [n, height, width, channels] = split.shape
    const s = saved.config.shape
    if (height !== s.height || width !== s.width || channels !== s.channels) {
      throw new JobError(`Image dataset #${datasetId} has ${height}×${width}×${channels} images, but run ${c.trainRunId}'s classifier takes ${s.height}×${s.width}×${s.channels}.`)
    }
    if (split.classes.length !== s.classes) {
      throw new JobError(`Image dataset #${datasetId} has ${split.classes.length} classes, but run ${c.trainRunId}'s classifier has ${s.classes}.`)
    }
    ctx.progress({ unit: 'images', done: 0, total: n, message: `evaluating run ${c.trainRunId} on ${n} ${c.split} images` })
    const name = datasetName(ctx.store, datasetId)
    const evaluation = evaluateRows(saved.model, saved.params, { images: split.images, labels: split.labels, height, width, channels }, {
      dataset: { id: datasetId, name, split: c.split },
      classes: saved.config.classes,
      maxMisclassified: c.maxMisclassified,
    })
    writeFileAtomic(join(ctx.store.runDir(ctx.runId), CLASSIFY_EVAL_FILE), Buffer.from(JSON.stringify(evaluation) + '\n'))
    ctx.store.addMetrics(ctx.runId, 0, { accuracy: evaluation.accuracy })
    ctx.progress({ unit: 'images', done: n, total: n, message: `accuracy ${(100 * evaluation.accuracy).toFixed(2)}%` })
    ctx.log('info', `Run ${c.trainRunId} on ${name} (${c.split}): ${evaluation.correct}/${evaluation.images} correct, ${(100 * evaluation.accuracy).toFixed(2)}%.`)
  } finally {
    saved.dispose()
  }
}

export const classifyEvalJob = defineJob('classify-eval', ClassifyEvalConfig, classifyEval)
