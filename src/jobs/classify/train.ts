// The `classify-train` job: trains an image classifier of the engine's registry on a registered
// image dataset, with AdamW or SGD + momentum, a constant or warm-up + cosine schedule and
// optional flip / padded-crop augmentation. Per step it records loss, lr and samples/s; per epoch
// the epoch's mean loss, the train accuracy (eval mode, on up to 10,000 training images) and the
// validation accuracy. At the end it measures the test split (accuracy, per class, confusion,
// misclassified examples) and saves the run folder: config.json + model.safetensors + result.json.
//
// Resume is exact. Every random choice is a pure function of (seed, epoch, step in the epoch):
// the epoch's order is a Fisher–Yates shuffle seeded by (seed, epoch), the augmentation of a batch
// is seeded by (seed, epoch, step). A checkpoint (every epoch, every checkpointSeconds, and on
// cancel) holds the weights, the BatchNorm buffers, the optimizer's state and the position, so a
// resumed run takes the same batches in the same order from the same state: its final weights
// are bit-identical to an uninterrupted run's (test/unit/classify/train.test.ts checks).
import { join } from 'node:path'
import { loadImageSplit } from '../../data/images/registry.js'
import { epochOrder, mixSeeds as mix, Rng } from '../../data/shuffle.js'
import { disposeParams, type ClassifierParams } from '../../engine/classifiers/classifier.js'
import { CLASSIFIERS, createClassifier } from '../../engine/classifiers/registry.js'
import { paramsFromTensors, paramsToTensors, type NamedTensor } from '../../engine/classifiers/tensors.js'
import { classifierStep } from '../../engine/classifiers/train.js'
import { AdamW, warmupCosine, type LrSchedule } from '../../engine/optim/adamw.js'
import { SGD } from '../../engine/optim/sgd.js'
import { SafetensorsFile, type WritableTensor } from '../../engine/safetensors.js'
import { encodeSafetensors } from '../../engine/train/state-file.js'
import { CLASSIFY_RESULT_FILE, ClassifyTrainConfig, type ClassifyTrainResult } from '../../shared/classify.js'
import { writeFileAtomic } from '../../store/files.js'
import { defineJob, JobError, type JobContext } from '../job.js'
import { batchTensor, datasetName, evaluateRows, PIXEL_SCALE, rowCount, saveClassifierFolder, type ImageRows } from './model-folder.js'

/** Training images the per-epoch train accuracy is measured on (the first ones of the split). */
const TRAIN_ACCURACY_IMAGES = 10_000

type Epoch = ClassifyTrainResult['epochs'][number]

/** Where training stands: what a checkpoint records besides the tensors. */
interface Position {
  step: number
  epoch: number
  stepInEpoch: number
  lossSum: number
  lossCount: number
  seconds: number
  epochs: Epoch[]
}

/**
 * Augmented copies of the images at `indices` (bytes, same layout): each mirrored left–right with
 * probability ½ when `flip`, then shifted by a random offset within ±pad with zero fill — the same
 * as padding by `pad` zero pixels and cropping back to size at a random corner.
 */
export function augmentRows(rows: ImageRows, indices: ArrayLike<number>, opts: { flip: boolean; cropPadding: number }, rng: Rng): ImageRows {
  const { height: h, width: w, channels: c } = rows
  const size = h * w * c
  const images = new Uint8Array(indices.length * size)
  const labels = new Uint8Array(indices.length)
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b]!
    labels[b] = rows.labels[i]!
    const flip = opts.flip && rng.below(2) === 1
    const pad = opts.cropPadding
    const dy = pad > 0 ? rng.below(2 * pad + 1) - pad : 0
    const dx = pad > 0 ? rng.below(2 * pad + 1) - pad : 0
    for (let y = 0; y < h; y++) {
      const sy = y + dy
      if (sy < 0 || sy >= h) continue
      for (let x = 0; x < w; x++) {
        let sx = x + dx
        if (sx < 0 || sx >= w) continue
        if (flip) sx = w - 1 - sx
        for (let ch = 0; ch < c; ch++) images[b * size + (y * w + x) * c + ch] = rows.images[i * size + (sy * w + sx) * c + ch]!
      }
    }
  }
  return { images, labels, height: h, width: w, channels: c }
}

type Optimizer = AdamW | SGD

function makeOptimizer(params: ClassifierParams, c: ClassifyTrainConfig): Optimizer {
  const o = c.optimizer
  return o.kind === 'adamw'
    ? new AdamW(params.weights, { lr: o.lr, ...(o.weightDecay !== undefined ? { weightDecay: o.weightDecay } : {}) })
    : new SGD(params.weights, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay ?? 0 })
}

export function learningRate(c: ClassifyTrainConfig, totalSteps: number): LrSchedule {
  if (c.schedule.kind === 'constant') return () => c.optimizer.lr
  return warmupCosine({ lr: c.optimizer.lr, warmup: c.schedule.warmup, total: totalSteps, minLr: c.optimizer.lr * c.schedule.minLrRatio })
}

function checkpointBytes(params: ClassifierParams, optimizer: Optimizer, position: Position): Uint8Array {
  const tensors: Record<string, WritableTensor> = {}
  for (const [name, t] of Object.entries(paramsToTensors(params))) tensors[`model.${name}`] = t
  for (const [name, t] of Object.entries(optimizer.stateTensors())) tensors[`opt.${name}`] = t
  return encodeSafetensors(tensors, { position: JSON.stringify(position) })
}

function restore(path: string, params: ClassifierParams, optimizer: Optimizer, model: Parameters<typeof paramsFromTensors>[0]): Position {
  const file = SafetensorsFile.open(path)
  try {
    const modelTensors: Record<string, NamedTensor> = {}
    const opt: Record<string, { shape: number[]; data: Float32Array | Int32Array }> = {}
    for (const [name, info] of file.tensors) {
      if (name.startsWith('model.')) modelTensors[name.slice(6)] = { shape: info.shape, data: file.readFloat32(name) }
      else if (name.startsWith('opt.')) opt[name.slice(4)] = { shape: info.shape, data: info.dtype === 'I32' ? file.readInt32(name) : file.readFloat32(name) }
    }
    // Checked against the model's layout by paramsFromTensors, then copied into the live variables
    // the optimizer holds.
    const loaded = paramsFromTensors(model, modelTensors)
    for (const [name, v] of Object.entries(loaded.weights)) params.weights[name]!.assign(v)
    for (const [name, v] of Object.entries(loaded.buffers)) params.buffers[name]!.assign(v)
    disposeParams(loaded)
    optimizer.loadState(opt)
    return JSON.parse(file.metadata.position ?? 'null') as Position
  } finally {
    file.close()
  }
}

async function loadRows(ctx: JobContext<ClassifyTrainConfig>, split: 'train' | 'validation' | 'test'): Promise<ImageRows & { classes: string[] }> {
  const s = await loadImageSplit(ctx.store, ctx.config.dataset, split)
  return { images: s.images, labels: s.labels, height: s.shape[1], width: s.shape[2], channels: s.shape[3], classes: s.classes }
}

/**
 * The first `limit` rows (views, no copy), or all of them when no limit is set. A limit larger than
 * the split is refused, not clamped (the stored config must say what was trained on); classify.start
 * refuses it before queueing, this catches a dataset whose split changed since.
 */
export function firstRows<T extends ImageRows>(rows: T, limit: number | undefined, dataset: number): T {
  const n = rowCount(rows)
  if (limit === undefined) return rows
  if (limit > n) throw new JobError(`trainImages ${limit} is more than the ${n} training images of image dataset #${dataset}: give at most ${n}, or leave it out to use all of them.`)
  const size = rows.height * rows.width * rows.channels
  return { ...rows, images: rows.images.subarray(0, limit * size), labels: rows.labels.subarray(0, limit) }
}

export async function classifyTrain(ctx: JobContext<ClassifyTrainConfig>): Promise<void> {
  const c = ctx.config
  // Only the first trainImages of the train split (before the per-epoch shuffle, so the subset is
  // the same for every seed); everything below, from the step count to samples/s, counts those.
  const whole = await loadRows(ctx, 'train')
  const train = firstRows(whole, c.trainImages, c.dataset)
  const validation = await loadRows(ctx, 'validation')
  const test = await loadRows(ctx, 'test')
  const n = rowCount(train)
  if (n === 0) throw new JobError(`Image dataset #${c.dataset} has no training images: register it with a smaller --validation / --test fraction.`)
  const shape = { height: train.height, width: train.width, channels: train.channels, classes: train.classes.length }
  let model
  try {
    model = createClassifier(c.model, c.modelConfig, shape)
  } catch (err) {
    throw new JobError((err as Error).message)
  }
  const stepsPerEpoch = Math.ceil(n / c.batch)
  const totalSteps = stepsPerEpoch * c.epochs
  const lrAt = learningRate(c, totalSteps)
  const params = model.init(c.seed)
  const optimizer = makeOptimizer(params, c)
  const accuracyRows: ImageRows = n <= TRAIN_ACCURACY_IMAGES ? train : { ...train, images: train.images.subarray(0, TRAIN_ACCURACY_IMAGES * train.height * train.width * train.channels), labels: train.labels.subarray(0, TRAIN_ACCURACY_IMAGES) }
  const name = datasetName(ctx.store, c.dataset)
  const datasetMeta = (split: string): { id: number; name: string; split: string } => ({ id: c.dataset, name, split })
  try {
    let pos: Position = { step: 0, epoch: 0, stepInEpoch: 0, lossSum: 0, lossCount: 0, seconds: 0, epochs: [] }
    if (ctx.resumeFrom) {
      pos = restore(ctx.resumeFrom.path, params, optimizer, model)
      ctx.log('info', `Resuming from the checkpoint of step ${pos.step} (epoch ${pos.epoch + 1}, step ${pos.stepInEpoch} of ${stepsPerEpoch}).`)
    } else {
      ctx.log('info', `${model.paramCount().toLocaleString('en')} parameters; ${c.epochs} epochs of ${stepsPerEpoch} steps of ${c.batch} on ${c.trainImages !== undefined ? `the first ${n} of ${rowCount(whole)}` : n} training, ${rowCount(validation)} validation and ${rowCount(test)} test images.`)
    }
    const totalSamples = c.epochs * n
    let lastCheckpointStep = pos.step
    let lastCheckpointAt = performance.now()
    const checkpoint = (metrics?: Record<string, number>): void => {
      ctx.checkpoint(pos.step, checkpointBytes(params, optimizer, pos), 'classify.safetensors', metrics)
      lastCheckpointStep = pos.step
      lastCheckpointAt = performance.now()
    }
    const startedAt = performance.now() - pos.seconds * 1000
    let rateSamples = 0
    let rateStart = performance.now()
    let perSecond = 0
    while (pos.epoch < c.epochs) {
      const order = epochOrder(n, c.seed, pos.epoch)
      while (pos.stepInEpoch < stepsPerEpoch) {
        if (ctx.cancelled()) {
          if (pos.step > lastCheckpointStep) checkpoint()
          ctx.log('info', `Cancelled at step ${pos.step}; resume to continue.`)
          return
        }
        const from = pos.stepInEpoch * c.batch
        const indices = order.subarray(from, Math.min(n, from + c.batch))
        const augment = c.augment.flip || c.augment.cropPadding > 0
        const rows = augment ? augmentRows(train, indices, c.augment, new Rng(mix(c.seed, pos.epoch, pos.stepInEpoch, 1))) : train
        const batch = batchTensor(rows, augment ? Uint32Array.from(indices, (_, i) => i) : indices)
        const lr = lrAt(pos.step)
        let loss: number
        try {
          loss = classifierStep(model, params, optimizer, batch, lr)
        } finally {
          batch.images.dispose()
        }
        if (!Number.isFinite(loss)) {
          throw new JobError(`Training stopped: the loss became ${loss} at step ${pos.step + 1}. Start again with a lower --lr; the last good checkpoint (step ${lastCheckpointStep}) is kept.`)
        }
        pos.step++
        pos.stepInEpoch++
        pos.lossSum += loss * indices.length
        pos.lossCount += indices.length
        rateSamples += indices.length
        const now = performance.now()
        // A rate over the last second or more; the first step sets one at once, so a run shorter
        // than a second (a small set on a fast machine) still reports its samples/s.
        if (now - rateStart > 1000 || (perSecond === 0 && now > rateStart)) {
          perSecond = (rateSamples * 1000) / (now - rateStart)
          rateSamples = 0
          rateStart = now
        }
        pos.seconds = (now - startedAt) / 1000
        const done = pos.epoch * n + Math.min(n, pos.stepInEpoch * c.batch)
        const metrics: Record<string, number> = { loss, lr, ...(perSecond > 0 ? { samples_per_s: perSecond } : {}) }
        ctx.store.addMetrics(ctx.runId, pos.step, metrics)
        ctx.progress({
          unit: 'images',
          done,
          total: totalSamples,
          ...(perSecond > 0 ? { perSecond, etaSeconds: (totalSamples - done) / perSecond } : {}),
          message: `epoch ${pos.epoch + 1}/${c.epochs} step ${pos.stepInEpoch}/${stepsPerEpoch} loss ${loss.toFixed(4)}`,
          metrics,
        })
        if (pos.stepInEpoch < stepsPerEpoch && now - lastCheckpointAt > c.checkpointSeconds * 1000) checkpoint()
      }
      // End of the epoch: its accuracies, then a checkpoint that records them with it.
      const trainAccuracy = evaluateRows(model, params, accuracyRows, { dataset: datasetMeta('train'), classes: train.classes, maxMisclassified: 0 }).accuracy
      const validationAccuracy = rowCount(validation) === 0 ? null : evaluateRows(model, params, validation, { dataset: datasetMeta('validation'), classes: train.classes, maxMisclassified: 0 }).accuracy
      const epoch: Epoch = { epoch: pos.epoch + 1, step: pos.step, loss: pos.lossSum / pos.lossCount, trainAccuracy, validationAccuracy, seconds: pos.seconds }
      pos.epochs.push(epoch)
      pos.epoch++
      pos.stepInEpoch = 0
      pos.lossSum = 0
      pos.lossCount = 0
      const epochMetrics: Record<string, number> = { epoch: epoch.epoch, epoch_loss: epoch.loss, train_accuracy: trainAccuracy, ...(validationAccuracy === null ? {} : { validation_accuracy: validationAccuracy }) }
      ctx.log('info', `Epoch ${epoch.epoch}: loss ${epoch.loss.toFixed(4)}, train accuracy ${(100 * trainAccuracy).toFixed(2)}%${validationAccuracy === null ? '' : `, validation ${(100 * validationAccuracy).toFixed(2)}%`}.`)
      checkpoint(epochMetrics)
    }

    const testResult = evaluateRows(model, params, test, { dataset: datasetMeta('test'), classes: train.classes, maxMisclassified: c.maxMisclassified })
    const dir = ctx.store.runDir(ctx.runId)
    const resolved = resolvedModelConfig(c)
    saveClassifierFolder(dir, { format: 'mxd-classifier', version: 1, model: c.model, modelConfig: resolved, shape, classes: train.classes, pixelScale: PIXEL_SCALE, datasetId: c.dataset, runId: ctx.runId }, params)
    const result: ClassifyTrainResult = {
      model: c.model,
      modelConfig: resolved,
      parameters: model.paramCount(),
      shape,
      steps: pos.step,
      trainSeconds: pos.seconds,
      samplesPerSecond: pos.seconds > 0 ? totalSamples / pos.seconds : 0,
      epochs: pos.epochs,
      test: testResult,
    }
    writeFileAtomic(join(dir, CLASSIFY_RESULT_FILE), Buffer.from(JSON.stringify(result) + '\n'))
    ctx.store.addMetrics(ctx.runId, pos.step, { test_accuracy: testResult.accuracy })
    ctx.log('info', `Test accuracy ${(100 * testResult.accuracy).toFixed(2)}% (${testResult.correct}/${testResult.images}); saved ${dir}.`)
  } finally {
    optimizer.dispose()
    disposeParams(params)
  }
}

/** The model's config with every default filled in (what config.json records). */
function resolvedModelConfig(c: ClassifyTrainConfig): Record<string, unknown> {
  return CLASSIFIERS[c.model].schema.parse(c.modelConfig) as Record<string, unknown>
}

export const classifyTrainJob = defineJob('classify-train', ClassifyTrainConfig, classifyTrain)
