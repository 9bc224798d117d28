// The image-experts job end to end through the API: a planted mixer saved as a folder (config.json
// + model.safetensors) and the planted images registered as a real IDX dataset; the job's stored
// result must equal the analysis run in-process on the same split, and show the planted
// specialisation. Bad requests are refused before any run is made.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeImageExperts } from '../../../src/analysis/image-experts/analyze.js'
import { loadMixerFolder, saveMixerFolder } from '../../../src/analysis/image-experts/folder.js'
import { Backend } from '../../../src/backend/backend.js'
import { loadImageSplit } from '../../../src/data/images/registry.js'
import { initBackend } from '../../../src/engine/backend.js'
import { disposeParams } from '../../../src/engine/classifiers/classifier.js'
import { createMixer, mixerSchema } from '../../../src/engine/classifiers/mixer.js'
import type { ImageExpertsResult } from '../../../src/shared/image-experts.js'
import { waitFor } from '../../helpers/wait.js'
import { idxImages, idxLabels, writeIdxFolder } from '../images/helpers.js'
import { CONFIG, plantedImages, plantedMixer, SHAPE } from './planted.js'

let dir: string
let backend: Backend
let modelDir: string
let datasetId: number
let result: ImageExpertsResult

const runs = (): number => backend.ctx.store.listRuns({ kind: 'image-experts' }).length

beforeAll(async () => {
  await initBackend()
  dir = mkdtempSync(join(tmpdir(), 'mxd-image-experts-'))
  backend = await Backend.create({ storeDir: join(dir, 'store'), bundledModelsDir: join(tmpdir(), 'none') })
  const data = plantedImages()
  const n = data.labels.length
  // The planted images are the official test split; a few of them also make up the train split.
  const idx = writeIdxFolder(
    {
      trainImages: idxImages(8, 4, 4, Array.from(data.images.subarray(0, 8 * 16))),
      trainLabels: idxLabels(Array.from(data.labels.subarray(0, 8))),
      testImages: idxImages(n, 4, 4, Array.from(data.images)),
      testLabels: idxLabels(Array.from(data.labels)),
    },
    { dir: join(dir, 'planted-idx') },
  )
  datasetId = (await backend.call('images.add', { path: idx })).id
  const mixer = plantedMixer()
  modelDir = join(dir, 'mixer')
  await saveMixerFolder(modelDir, { config: CONFIG, shape: SHAPE, params: mixer.params })
  disposeParams(mixer.params)

  const { runId } = await backend.call('classify.analyzeExperts', { model: modelDir, datasetId })
  result = await waitFor(
    `image-experts run ${runId}`,
    async () => {
      const r = await backend.call('classify.getExperts', { runId })
      return r.status === 'queued' || r.status === 'running' ? undefined : r
    },
    { timeoutMs: 300_000, intervalMs: 100 },
  )
}, 400_000)

afterAll(async () => {
  await backend?.close()
})

describe('the image-experts job', () => {
  it('stores the analysis of the saved mixer on the test split, equal to an in-process run', async () => {
    expect(result.error).toBeNull()
    expect(result.status).toBe('succeeded')
    const a = result.analysis!
    expect(a.data).toEqual({ datasetId, split: 'test', images: plantedImages().labels.length })
    for (const x of a.blocks[0]!.experts) expect(x.dominatedBy).toBe(a.classes[x.expert])
    expect(a.summary.dominated).toBe(1)

    const split = await loadImageSplit(backend.ctx.store, datasetId, 'test')
    const mixer = await loadMixerFolder(modelDir)
    try {
      const direct = await analyzeImageExperts(mixer, split, { model: modelDir, datasetId, split: 'test' })
      expect(a).toEqual(JSON.parse(JSON.stringify(direct)))
    } finally {
      disposeParams(mixer.params)
    }
  })

  it('refuses a folder without a classifier, an unknown dataset and out-of-range input, making no run', async () => {
    const before = runs()
    await expect(backend.call('classify.analyzeExperts', { model: join(dir, 'nowhere'), datasetId })).rejects.toThrow(/has no config\.json/)
    await expect(backend.call('classify.analyzeExperts', { model: modelDir, datasetId: 999 })).rejects.toThrow(/no image dataset #999/)
    await expect(backend.call('classify.analyzeExperts', { model: modelDir, datasetId, maxImages: 0 })).rejects.toThrow(/maxImages/)
    await expect(backend.call('classify.getExperts', { runId: 999 })).rejects.toThrow(/no image expert analysis run 999/)
    expect(runs()).toBe(before)
  })

  it('fails a run on a dense mixer with a message saying what to use', async () => {
    const dense = mixerSchema.parse({ ...CONFIG, mlp: 'dense' })
    const params = createMixer(dense, SHAPE).init(1)
    const denseDir = join(dir, 'dense')
    await saveMixerFolder(denseDir, { config: dense, shape: SHAPE, params })
    disposeParams(params)
    const { runId } = await backend.call('classify.analyzeExperts', { model: denseDir, datasetId, split: 'train' })
    const r = await waitFor(`run ${runId}`, async () => {
      const s = await backend.call('classify.getExperts', { runId })
      return s.status === 'queued' || s.status === 'running' ? undefined : s
    }, { timeoutMs: 300_000, intervalMs: 100 })
    expect(r.status).toBe('failed')
    expect(r.error).toMatch(/dense mixer: the expert analysis needs CPμMoE or TRμMoE/)
  })
})
