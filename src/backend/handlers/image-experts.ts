// classify.analyzeExperts queues the expert-specialisation analysis of a saved μMoE mixer on one
// split of a registered image dataset (job kind image-experts); classify.getExperts returns the
// run's state and, once it succeeded, its result. The folder and the dataset are checked here so
// that a typo is refused at once rather than as a failed run.
import { join, resolve } from 'node:path'
import { getImageDataset } from '../../data/images/registry.js'
import { pathExists } from '../../fs/user-files.js'
import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import { ImageExpertsConfig } from '../../shared/image-experts.js'
import { readImageExperts } from '../../jobs/image-experts.js'
import type { BackendContext } from '../context.js'

/** The folder a succeeded classifier training run saved its model in. */
function trainedRunFolder(ctx: BackendContext, runId: number): string {
  const run = ctx.store.getRun(runId)
  if (!run || run.kind !== 'classify-train') throw new ApiError('not_found', `There is no classifier training run ${runId}: list them with "mxd runs".`)
  if (run.status !== 'succeeded') throw new ApiError('bad_request', `Classifier run ${runId} is ${run.status}: its model is saved when training ends (resume it with "mxd classify train --resume ${runId}").`)
  return ctx.store.runDir(runId)
}

export async function analyzeImageExperts(ctx: BackendContext, input: ParsedInput<'classify.analyzeExperts'>): Promise<Output<'classify.analyzeExperts'>> {
  const model = input.trainRunId !== undefined ? trainedRunFolder(ctx, input.trainRunId) : resolve(input.model!)
  for (const file of ['config.json', 'model.safetensors']) {
    if (!(await pathExists(join(model, file)))) throw new ApiError('bad_request', `${model} has no ${file}: choose a saved classifier folder (config.json + model.safetensors).`)
  }
  if (!(await getImageDataset(ctx.store.db, input.datasetId))) {
    throw new ApiError('not_found', `There is no image dataset #${input.datasetId}: add it with images.add (mxd images add PATH).`)
  }
  const config = ImageExpertsConfig.parse({
    model,
    datasetId: input.datasetId,
    ...(input.split === undefined ? {} : { split: input.split }),
    ...(input.maxImages === undefined ? {} : { maxImages: input.maxImages }),
  })
  const run = ctx.store.createRun('image-experts', config)
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

export function getImageExperts(ctx: BackendContext, input: ParsedInput<'classify.getExperts'>): Output<'classify.getExperts'> {
  const run = ctx.store.getRun(input.runId)
  if (!run || run.kind !== 'image-experts') throw new ApiError('not_found', `There is no image expert analysis run ${input.runId}.`)
  return {
    runId: run.id,
    status: run.status,
    error: run.error,
    analysis: run.status === 'succeeded' ? readImageExperts(ctx.store, run.id) : null,
  }
}
