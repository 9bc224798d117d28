// Image classifiers (docs/classifiers.md, "Training"): start a training run (job classify-train),
// evaluate a trained one (job classify-eval), read a run's result, predict one image.
//
// classify.start checks what it can before queueing, so a mistake is answered at once rather than
// as a failed run: the data is a registered image dataset (a path is registered first, as
// images.add does; a text dataset's id is refused and named), and the model config is validated
// by the engine's classifier registry against the dataset's image shape (it builds no tensors).
// classify.preview runs the same check for the training form and answers the model's size and,
// for a μMoE mixer, the parameter-matched rank from the engine's own matchedMixerRank.
//
// classify.predict runs on the engine worker, not as a job: the job queue runs one job at a time,
// so a prediction queued behind a training run would wait minutes for a millisecond's forward.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { getImageDataset } from '../../data/images/registry.js'
import { matchedMixerRank, mixerParamCount, mixerSchema } from '../../engine/classifiers/mixer.js'
import { createClassifier } from '../../engine/classifiers/registry.js'
import { ApiError, type Output, type ParsedInput, type Run } from '../../shared/api.js'
import {
  CLASSIFY_EVAL_FILE,
  CLASSIFY_RESULT_FILE,
  ClassifyEvalConfig,
  ClassifyEvaluation,
  ClassifyTrainConfig,
  ClassifyTrainResult,
} from '../../shared/classify.js'
import { ImageAddRequest, type ImageDataset } from '../../shared/images.js'
import type { BackendContext } from '../context.js'
import { addImages } from './datasets.js'

/** The image dataset `data` names: a registered id, or a path registered now. */
async function imageDataset(ctx: BackendContext, data: number | string): Promise<ImageDataset> {
  if (typeof data === 'string') return addImages(ctx, ImageAddRequest.parse({ path: data }))
  const found = await getImageDataset(ctx.store.db, data)
  if (found) return found
  const row = ctx.store.db.prepare('SELECT modality, name FROM datasets WHERE id = ?').get(data) as { modality: string; name: string } | undefined
  if (row) throw new ApiError('bad_request', `Dataset #${data} (${row.name}) is a ${row.modality} dataset, not an image dataset: give an image dataset's id (mxd images list) or an image folder's path.`)
  throw new ApiError('not_found', `There is no image dataset #${data}: list them with "mxd images list", or give a folder's path.`)
}

/** The classifier `model`/`modelConfig` would build on the dataset; a bad config is refused naming its field. */
function checkedClassifier(dataset: ImageDataset, model: string, modelConfig: Record<string, unknown>): ReturnType<typeof createClassifier> {
  try {
    return createClassifier(model, modelConfig, { ...dataset.shape, classes: dataset.classes.length })
  } catch (err) {
    throw new ApiError('bad_request', `${(err as Error).message}.`)
  }
}

export async function startClassify(ctx: BackendContext, input: ParsedInput<'classify.start'>): Promise<Output<'classify.start'>> {
  const { data, ...rest } = input
  const dataset = await imageDataset(ctx, data)
  checkedClassifier(dataset, input.model, input.modelConfig)
  if (dataset.splitSizes.train === 0) throw new ApiError('bad_request', `Image dataset #${dataset.id} has no training images.`)
  if (input.trainImages !== undefined && input.trainImages > dataset.splitSizes.train) {
    throw new ApiError('bad_request', `trainImages ${input.trainImages} is more than the ${dataset.splitSizes.train} training images of image dataset #${dataset.id} (${dataset.name}): give at most ${dataset.splitSizes.train}, or leave it out to use all of them.`)
  }
  const run = ctx.store.createRun('classify-train', ClassifyTrainConfig.parse({ ...rest, dataset: dataset.id }))
  ctx.queue.enqueue(run.id)
  return { runId: run.id, datasetId: dataset.id }
}

export async function previewClassify(ctx: BackendContext, input: ParsedInput<'classify.preview'>): Promise<Output<'classify.preview'>> {
  const dataset = await imageDataset(ctx, input.data)
  const parameters = checkedClassifier(dataset, input.model, input.modelConfig).paramCount()
  const config = input.model === 'mixer' ? mixerSchema.parse(input.modelConfig) : null
  if (!config || config.mlp === 'dense') return { parameters, matchedRank: null, denseParameters: null, matchedParameters: null }
  const shape = { ...dataset.shape, classes: dataset.classes.length }
  try {
    const m = matchedMixerRank(config, shape)
    return { parameters, matchedRank: m.rank, denseParameters: m.denseParams, matchedParameters: m.mumoeParams }
  } catch {
    // A rank is set and so many experts leave no matched rank: the set rank stands on its own.
    return { parameters, matchedRank: null, denseParameters: mixerParamCount({ ...config, mlp: 'dense' }, shape), matchedParameters: null }
  }
}

function trainRun(ctx: BackendContext, runId: number): Run {
  const run = ctx.store.getRun(runId)
  if (!run || run.kind !== 'classify-train') throw new ApiError('not_found', `There is no classifier training run ${runId}: list the runs with "mxd runs".`)
  return run
}

export async function evaluateClassify(ctx: BackendContext, input: ParsedInput<'classify.evaluate'>): Promise<Output<'classify.evaluate'>> {
  const train = trainRun(ctx, input.trainRunId)
  if (train.status !== 'succeeded') throw new ApiError('conflict', `Classifier run ${train.id} is ${train.status}: its model is saved when training finishes.`)
  const { data, ...rest } = input
  const dataset = data === undefined ? undefined : await imageDataset(ctx, data)
  const run = ctx.store.createRun('classify-eval', ClassifyEvalConfig.parse({ ...rest, ...(dataset ? { dataset: dataset.id } : {}) }))
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

export async function readJson<T>(path: string, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }): Promise<T | null> {
  try {
    const parsed = schema.safeParse(JSON.parse(await readFile(path, 'utf8')))
    return parsed.success ? parsed.data : null
  } catch {
    return null
  }
}

export async function getClassify(ctx: BackendContext, input: ParsedInput<'classify.get'>): Promise<Output<'classify.get'>> {
  const run = ctx.store.getRun(input.runId)
  if (!run || (run.kind !== 'classify-train' && run.kind !== 'classify-eval')) {
    throw new ApiError('not_found', `There is no classifier run ${input.runId}: list the runs with "mxd runs".`)
  }
  const dir = ctx.store.runDir(run.id)
  const done = run.status === 'succeeded'
  return {
    runId: run.id,
    kind: run.kind,
    status: run.status,
    error: run.error,
    config: run.config,
    train: done && run.kind === 'classify-train' ? await readJson(join(dir, CLASSIFY_RESULT_FILE), ClassifyTrainResult) : null,
    evaluation: done && run.kind === 'classify-eval' ? await readJson(join(dir, CLASSIFY_EVAL_FILE), ClassifyEvaluation) : null,
  }
}

export async function predictClassify(ctx: BackendContext, input: ParsedInput<'classify.predict'>): Promise<Output<'classify.predict'>> {
  const run = trainRun(ctx, input.runId)
  if (run.status !== 'succeeded') throw new ApiError('conflict', `Classifier run ${run.id} is ${run.status}: its model is saved when training finishes.`)
  const image =
    'base64' in input.image
      ? { encoded: new Uint8Array(Buffer.from(input.image.base64, 'base64')) }
      : { pixels: Uint8Array.from(input.image.pixels), height: input.image.height, width: input.image.width, channels: input.image.channels }
  try {
    return await ctx.engine.inspect({ op: 'classify', dir: ctx.store.runDir(run.id), image })
  } catch (err) {
    throw new ApiError('bad_request', (err as Error).message)
  }
}
