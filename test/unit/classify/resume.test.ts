// Cancel and resume of the classify-train job: a run cancelled mid-epoch (twice) and resumed from
// its newest checkpoint each time ends with the same bytes in model.safetensors, the same per-step
// losses and the same epoch records as an uninterrupted run of the same config. The job runs in
// this process with a job context like the worker's (a real store, real checkpoint files), whose
// cancel flag turns on after a set number of steps: the cancel point is exact, not raced.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadImageSplit, registerImageDataset } from '../../../src/data/images/registry.js'
import { initBackend } from '../../../src/engine/backend.js'
import { SafetensorsFile } from '../../../src/engine/safetensors.js'
import type { JobContext } from '../../../src/jobs/job.js'
import { classifyTrain } from '../../../src/jobs/classify/train.js'
import { batchTensor, loadClassifierRun } from '../../../src/jobs/classify/model-folder.js'
import { classifierPredict } from '../../../src/engine/classifiers/train.js'
import { CLASSIFIER_WEIGHTS_FILE, CLASSIFY_RESULT_FILE, ClassifyTrainConfig, type ClassifyStartRequest } from '../../../src/shared/classify.js'
import { writeFileAtomic } from '../../../src/store/files.js'
import { Store } from '../../../src/store/store.js'
import { writePlantedIdx } from './planted.js'

const root = mkdtempSync(join(tmpdir(), 'mxd-classify-resume-'))
let store: Store
let dataset: number

beforeAll(async () => {
  await initBackend()
  store = new Store({ dir: join(root, 'store') })
  dataset = (await registerImageDataset(store, writePlantedIdx(join(root, 'planted'), { train: 40, test: 10 }))).id
})
afterAll(() => {
  store.close()
  rmSync(root, { recursive: true, force: true })
})

/** The worker's job context (src/jobs/worker.ts), cancelled once `cancelAfter` steps have run. */
function context(runId: number, config: ClassifyTrainConfig, cancelAfter?: number): JobContext<ClassifyTrainConfig> {
  let steps = 0
  return {
    runId,
    kind: 'classify-train',
    config,
    store,
    resumeFrom: store.latestCheckpoint(runId),
    cancelled: () => cancelAfter !== undefined && steps >= cancelAfter,
    progress: () => void steps++, // the job reports progress once per step
    log: (level, message) => store.log(runId, level, message),
    checkpoint: (step, bytes, name = 'checkpoint.bin', metrics) => {
      const path = join(store.runDir(runId), `step-${step}-${name}`)
      store.addCheckpoint(runId, step, path, writeFileAtomic(path, bytes), metrics)
      return path
    },
  }
}

function weights(runId: number): Record<string, Float32Array> {
  const file = SafetensorsFile.open(join(store.runDir(runId), CLASSIFIER_WEIGHTS_FILE))
  try {
    return Object.fromEntries([...file.tensors.keys()].sort().map((n) => [n, file.readFloat32(n)]))
  } finally {
    file.close()
  }
}

const losses = (runId: number): [number, number][] => store.getMetrics(runId).filter((m) => m.name === 'loss').map((m) => [m.step, m.value])
const result = (runId: number): { epochs: { loss: number; trainAccuracy: number; validationAccuracy: number | null }[]; test: { correct: number } } =>
  JSON.parse(readFileSync(join(store.runDir(runId), CLASSIFY_RESULT_FILE), 'utf8'))

const CASES: [string, Omit<ClassifyStartRequest, 'data'>][] = [
  ['an MLP with AdamW', { model: 'mlp', modelConfig: { hidden: 16 }, optimizer: { kind: 'adamw', lr: 0.01 }, epochs: 3, batch: 16, seed: 4 }],
  [
    'a CPμMoE mixer (BatchNorm gate buffers) with SGD + momentum, cosine schedule, flip and crop augmentation',
    {
      model: 'mixer',
      modelConfig: { patch: 4, hidden: 8, tokenMixing: 8, channelMixing: 16, depth: 1, mlp: 'cpmoe', experts: 4 },
      optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-4 },
      schedule: { kind: 'cosine', warmup: 2 },
      augment: { flip: true, cropPadding: 1 },
      epochs: 3,
      batch: 16,
      seed: 5,
    },
  ],
]

describe('classify-train resume', () => {
  it.each(CASES)('%s: cancelled twice and resumed, it ends bit-identical to an uninterrupted run', async (_, request) => {
    const config = ClassifyTrainConfig.parse({ ...request, dataset })
    const whole = store.createRun('classify-train', config).id
    await classifyTrain(context(whole, config))

    const split = store.createRun('classify-train', config).id
    // 144 training images in batches of 16: 9 steps an epoch. Cancel at step 4 (mid-epoch 1),
    // then 10 steps later (step 14, mid-epoch 2), then run to the end.
    await classifyTrain(context(split, config, 4))
    expect(store.latestCheckpoint(split)!.step).toBe(4)
    await classifyTrain(context(split, config, 10))
    expect(store.getCheckpoints(split).map((c) => c.step)).toEqual([4, 9, 14])
    await classifyTrain(context(split, config))
    expect(store.getLog(split).filter((l) => l.message.startsWith('Resuming from the checkpoint of step')).map((l) => l.message.slice(0, 42))).toEqual([
      'Resuming from the checkpoint of step 4 (ep',
      'Resuming from the checkpoint of step 14 (e',
    ])

    // Every tensor bit for bit (the files differ only in the run id their metadata records).
    const a = weights(split)
    const b = weights(whole)
    expect(Object.keys(a)).toEqual(Object.keys(b))
    for (const name of Object.keys(a)) expect(Buffer.from(a[name]!.buffer).equals(Buffer.from(b[name]!.buffer)), name).toBe(true)
    expect(losses(split)).toEqual(losses(whole))
    expect(losses(whole)).toHaveLength(27)
    expect(result(split).epochs.map(({ loss, trainAccuracy, validationAccuracy }) => ({ loss, trainAccuracy, validationAccuracy }))).toEqual(
      result(whole).epochs.map(({ loss, trainAccuracy, validationAccuracy }) => ({ loss, trainAccuracy, validationAccuracy })),
    )
  })

  it('reloads a saved run folder that predicts what the run measured', async () => {
    const config = ClassifyTrainConfig.parse({ ...CASES[1]![1], dataset })
    const runId = store.createRun('classify-train', config).id
    await classifyTrain(context(runId, config))
    store.setRunStatus(runId, 'succeeded')
    const saved = loadClassifierRun(store, runId)
    try {
      const test = await loadImageSplit(store, dataset, 'test')
      const rows = { images: test.images, labels: test.labels, height: 8, width: 8, channels: 1 }
      const { images } = batchTensor(rows, Array.from(test.labels, (_, i) => i))
      const predicted = classifierPredict(saved.model, saved.params, images)
      images.dispose()
      let correct = 0
      predicted.forEach((p, i) => (correct += p === test.labels[i] ? 1 : 0))
      expect(correct).toBe(result(runId).test.correct)
      expect(saved.config).toMatchObject({ model: 'mixer', shape: { height: 8, width: 8, channels: 1, classes: 4 }, datasetId: dataset })
    } finally {
      saved.dispose()
    }
  })
})
