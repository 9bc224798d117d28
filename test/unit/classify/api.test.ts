// The classify.* API on a real store and the real job worker, on a planted 8×8 image set (four
// classes, a bar on rows 2c, 2c+1): an MLP and a small CPμMoE mixer learn it in a few epochs; the
// metrics are recorded; the test accuracy the job reports equals a float64 recount from the saved
// weights; the saved folder reloads and predicts (raw pixels and a PNG) what the float64 forward
// gives; classify.evaluate agrees with the run's own test figures; bad inputs are refused clearly.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { loadImageSplit } from '../../../src/data/images/registry.js'
import { SafetensorsFile } from '../../../src/engine/safetensors.js'
import type { JobProgress, Run } from '../../../src/shared/api.js'
import { CLASSIFIER_WEIGHTS_FILE } from '../../../src/shared/classify.js'
import { runEnded } from '../../helpers/jobs.js'
import { CLASSES, SIDE, writePlantedIdx } from './planted.js'

const root = mkdtempSync(join(tmpdir(), 'mxd-classify-api-'))
let b: Backend
let datasetId: number

beforeAll(async () => {
  b = await Backend.create({ storeDir: join(root, 'store') })
  const d = await b.call('images.add', { path: writePlantedIdx(join(root, 'planted'), { train: 40, test: 20 }) })
  datasetId = d.id
})
afterAll(async () => {
  await b.close()
  rmSync(root, { recursive: true, force: true })
})

const ended = (id: number): Promise<Run> => runEnded(b.ctx.store, id)

/** The MLP's logits in float64 from its saved safetensors (weights [in, out]). */
function mlpLogits64(file: SafetensorsFile, pixels: Uint8Array): number[] {
  const w1 = file.readFloat32('fc1.weight')
  const b1 = file.readFloat32('fc1.bias')
  const w2 = file.readFloat32('fc2.weight')
  const b2 = file.readFloat32('fc2.bias')
  const inDim = pixels.length
  const hidden = b1.length
  const h = Array.from({ length: hidden }, (_, j) => {
    let s = b1[j]!
    for (let i = 0; i < inDim; i++) s += (pixels[i]! / 255) * w1[i * hidden + j]!
    return Math.max(0, s)
  })
  return Array.from({ length: b2.length }, (_, k) => h.reduce((s, v, j) => s + v * w2[j * b2.length + k]!, b2[k]!))
}

const softmax = (z: number[]): number[] => {
  const m = Math.max(...z)
  const e = z.map((v) => Math.exp(v - m))
  const s = e.reduce((a, c) => a + c, 0)
  return e.map((v) => v / s)
}
const argmax = (v: number[]): number => v.reduce((best, x, i) => (x > v[best]! ? i : best), 0)

describe('classify API', () => {
  it('trains an MLP to high accuracy, records metrics, and its test figures, saved model and predictions check out', async () => {
    const { runId } = await b.call('classify.start', {
      data: datasetId,
      model: 'mlp',
      modelConfig: { hidden: 24 },
      optimizer: { kind: 'adamw', lr: 0.01 },
      epochs: 3,
      batch: 16,
      seed: 1,
    })
    const run = await ended(runId)
    expect(run.status, run.error ?? '').toBe('succeeded')
    const state = await b.call('classify.get', { runId })
    const r = state.train!
    expect(r.epochs).toHaveLength(3)
    expect(r.epochs.at(-1)!.trainAccuracy).toBeGreaterThanOrEqual(0.95)
    expect(r.test.accuracy).toBeGreaterThanOrEqual(0.95)

    // Metrics: loss and lr per step; per epoch the train and validation accuracies; test at the end.
    const metrics = b.ctx.store.getMetrics(runId)
    const named = (n: string): number[] => metrics.filter((m) => m.name === n).map((m) => m.step)
    const steps = 3 * Math.ceil(144 / 16) // 160 training images less the 10% validation split
    expect(r.steps).toBe(steps)
    expect(named('loss')).toEqual(Array.from({ length: steps }, (_, i) => i + 1))
    expect(named('train_accuracy')).toEqual([9, 18, 27])
    expect(named('validation_accuracy')).toEqual([9, 18, 27])
    expect(named('test_accuracy')).toEqual([27])

    // An independent recount: the float64 forward of the saved weights over the test split.
    const test = await loadImageSplit(b.ctx.store, datasetId, 'test')
    const file = SafetensorsFile.open(join(b.ctx.store.runDir(runId), CLASSIFIER_WEIGHTS_FILE))
    try {
      const size = SIDE * SIDE
      const confusion = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0))
      let correct = 0
      for (let i = 0; i < test.labels.length; i++) {
        const p = argmax(mlpLogits64(file, test.images.subarray(i * size, (i + 1) * size)))
        confusion[test.labels[i]!]![p]!++
        if (p === test.labels[i]) correct++
      }
      expect(r.test.correct).toBe(correct)
      expect(r.test.images).toBe(test.labels.length)
      expect(r.test.confusion).toEqual(confusion)
      expect(r.test.perClass.map((c) => c.correct)).toEqual(confusion.map((row, c) => row[c]))

      // Predict one test image, as raw pixels and as a PNG: the float64 forward's probabilities.
      const pixels = test.images.subarray(0, size)
      const expected = softmax(mlpLogits64(file, pixels))
      const raw = await b.call('classify.predict', { runId, image: { pixels: Array.from(pixels), height: SIDE, width: SIDE, channels: 1 } })
      const png = new PNG({ width: SIDE, height: SIDE })
      for (let i = 0; i < size; i++) png.data.set([pixels[i]!, pixels[i]!, pixels[i]!, 255], 4 * i)
      const viaPng = await b.call('classify.predict', { runId, image: { base64: PNG.sync.write(png).toString('base64') } })
      for (const got of [raw, viaPng]) {
        expect(got.predicted).toBe(argmax(expected))
        got.probabilities.forEach((p, k) => expect(Math.abs(p - expected[k]!)).toBeLessThan(1e-5))
      }
    } finally {
      file.close()
    }

    // classify.evaluate (a classify-eval job) reloads the saved folder and agrees with the run.
    const ev = await b.call('classify.evaluate', { trainRunId: runId })
    expect((await ended(ev.runId)).status).toBe('succeeded')
    const evaluation = (await b.call('classify.get', { runId: ev.runId })).evaluation!
    expect(evaluation.correct).toBe(r.test.correct)
    expect(evaluation.confusion).toEqual(r.test.confusion)
  })

  it('trains a small CPμMoE mixer with SGD and a cosine schedule to high accuracy', async () => {
    const { runId } = await b.call('classify.start', {
      data: datasetId,
      model: 'mixer',
      modelConfig: { patch: 4, hidden: 16, tokenMixing: 8, channelMixing: 32, depth: 1, mlp: 'cpmoe', experts: 4 },
      optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
      schedule: { kind: 'cosine', warmup: 3 },
      epochs: 6,
      batch: 16,
      seed: 2,
    })
    const run = await ended(runId)
    expect(run.status, run.error ?? '').toBe('succeeded')
    const r = (await b.call('classify.get', { runId })).train!
    expect(r.epochs.at(-1)!.trainAccuracy).toBeGreaterThanOrEqual(0.9)
    expect(r.test.accuracy).toBeGreaterThanOrEqual(0.9)

    // The expert analysis reads the trained run's model as the run saved it (one folder format for both).
    const ex = await b.call('classify.analyzeExperts', { trainRunId: runId, datasetId, split: 'test' })
    const exRun = await ended(ex.runId)
    expect(exRun.status, exRun.error ?? '').toBe('succeeded')
    const analysis = (await b.call('classify.getExperts', { runId: ex.runId })).analysis!
    const testImages = (await loadImageSplit(b.ctx.store, datasetId, 'test')).labels.length
    expect(analysis).toMatchObject({ mlp: 'cpmoe', nExperts: 4, nBlocks: 1, patches: 4, data: { datasetId, split: 'test', images: testImages } })
    expect(analysis.blocks[0]!.experts).toHaveLength(4)
  })

  it('trains on only the first trainImages images of the train split: steps, progress totals and samples/s count those', async () => {
    // 144 training images (160 less the 10% validation split); the first 50 of them, batches of 16:
    // ceil(50/16) = 4 steps an epoch, the last of 2 images, so 8 steps and 100 images over 2 epochs.
    const progress: JobProgress[] = []
    const off = b.subscribe((e) => {
      if (e.event === 'job.progress') progress.push(e.data)
    })
    const { runId } = await b.call('classify.start', { data: datasetId, model: 'logreg', optimizer: { lr: 0.01 }, epochs: 2, batch: 16, seed: 3, trainImages: 50 })
    const run = await ended(runId)
    off()
    expect(run.status, run.error ?? '').toBe('succeeded')
    const state = await b.call('classify.get', { runId })
    expect(state.config.trainImages).toBe(50)
    const r = state.train!
    expect(r.steps).toBe(2 * Math.ceil(50 / 16))
    expect(r.epochs.map((e) => e.step)).toEqual([4, 8])
    // samplesPerSecond is the images trained on (2 × 50) over the training time.
    expect(r.samplesPerSecond * r.trainSeconds).toBeCloseTo(100, 6)
    // Every step's update carries metrics, so none is throttled away: each step's images done, of 100.
    const mine = progress.filter((p) => p.runId === runId)
    expect(mine.map((p) => p.total)).toEqual(new Array<number>(8).fill(100))
    expect(mine.map((p) => p.done)).toEqual([16, 32, 48, 50, 66, 82, 98, 100])
    expect(mine.at(-1)!.fraction).toBe(1)
    // A run this short (well under a second of steps) still records samples/s, from its first step
    // on: the rate is measured at once and refreshed each second after.
    const rates = b.ctx.store.getMetrics(runId).filter((m) => m.name === 'samples_per_s')
    expect(rates[0]?.step).toBe(1)
    expect(rates.every((m) => Number.isFinite(m.value) && m.value > 0)).toBe(true)
    expect(mine[0]!.perSecond).toBeGreaterThan(0)
    // Validation and test splits are whole: 16 validation images, 80 test images.
    expect(r.test.images).toBe(CLASSES * 20)
    expect(b.ctx.store.getLog(runId).map((l) => l.message).join('\n')).toMatch(/2 epochs of 4 steps of 16 on the first 50 of 144 training, 16 validation and 80 test images/)
  })

  it('refuses an unknown dataset, a text dataset, a bad model config and a bad image, saying what to do', async () => {
    const runs = b.ctx.store.listRuns({ limit: 1000 }).length
    await expect(b.call('classify.start', { data: 999, model: 'mlp' })).rejects.toThrow(/no image dataset #999.*mxd images list/)
    const text = join(root, 'notes.txt')
    writeFileSync(text, 'one document\n\nanother document\n')
    const textId = (await b.call('datasets.add', { path: text })).id
    await expect(b.call('classify.start', { data: textId, model: 'mlp' })).rejects.toThrow(/is a text dataset, not an image dataset/)
    await expect(b.call('classify.start', { data: datasetId, model: 'mlp', modelConfig: { hidden: 0 } })).rejects.toThrow(/invalid mlp config: hidden/)
    await expect(b.call('classify.start', { data: datasetId, model: 'logreg', modelConfig: { hidden: 8 } })).rejects.toThrow(/invalid logreg config/)
    await expect(b.call('classify.start', { data: join(root, 'missing'), model: 'mlp' })).rejects.toThrow(/missing/)
    // More training images than the split holds is refused (not clamped), naming the split's size.
    await expect(b.call('classify.start', { data: datasetId, model: 'mlp', trainImages: 145 })).rejects.toThrow(/trainImages 145 is more than the 144 training images of image dataset #\d+ .*give at most 144/)
    await expect(b.call('classify.start', { data: datasetId, model: 'mlp', trainImages: 0 })).rejects.toThrow(/trainImages/)
    expect(b.ctx.store.listRuns({ limit: 1000 })).toHaveLength(runs)
    const done = b.ctx.store.listRuns({ kind: 'classify-train' }).find((r) => r.status === 'succeeded')!
    await expect(b.call('classify.predict', { runId: done.id, image: { base64: Buffer.from('not an image').toString('base64') } })).rejects.toThrow(/neither a PNG nor a JPEG/)
    await expect(b.call('classify.predict', { runId: done.id, image: { pixels: [1, 2, 3, 4], height: 2, width: 2, channels: 1 } })).rejects.toThrow(/2×2 pixels but this classifier takes 8×8/)
  })
})
