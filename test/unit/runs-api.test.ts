// runs.summarize and runs.delete on a real store: what tells runs apart, and a deletion that
// removes the run's rows and its folder in the store, and nothing else.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../src/backend/backend.js'

let backend: Backend
const outside = mkdtempSync(join(tmpdir(), 'mxd-user-'))

beforeAll(async () => {
  backend = await Backend.create({ storeDir: mkdtempSync(join(tmpdir(), 'mxd-runs-')), bundledModelsDir: join(tmpdir(), 'none') })
})
afterAll(async () => {
  await backend.close()
})

describe('runs.summarize', () => {
  it('names the model, block, kind, K and dataset, with the newest evaluation’s metrics', async () => {
    const store = backend.ctx.store
    const train = store.createRun(
      'convert',
      { model: '/models/kjv-mini', layer: 2, kind: 'transcoder', k: 8, data: '/data/kjv' },
      'succeeded',
    )
    store.addMetrics(train.id, 10, { nmse: 0.5 })
    store.addMetrics(train.id, 20, { nmse: 0.25 })
    store.addMetrics(train.id, 20, { 'eval.nmse': 0.3, 'eval.loss_recovered': 0.7 })
    store.addMetrics(train.id, 21, { 'eval.nmse': 0.2, 'eval.loss_recovered': 0.9 })
    const evalRun = store.createRun('convert-eval', { trainRunId: train.id }, 'succeeded')
    store.addMetrics(evalRun.id, 0, { 'eval.nmse': 0.2 })
    const imported = store.createRun('layer-import', { architecture: 'mxd', layer: 1, k: 4, model_name: 'gpt2' }, 'succeeded')
    const bench = store.createRun('bench-backend', { sizes: [8] }, 'succeeded')

    const list = await backend.call('runs.summarize', {})
    expect(list.map((s) => s.id)).toEqual([bench.id, imported.id, evalRun.id, train.id])
    expect(list[3]).toEqual({
      id: train.id,
      model: 'kjv-mini',
      modelId: null,
      layer: 2,
      layerKind: 'transcoder',
      k: 8,
      dataset: 'kjv',
      nmse: 0.2,
      lossRecovered: 0.9,
      trainNmse: 0.25,
    })
    // The evaluation is about the layer it evaluated.
    expect(list[2]).toMatchObject({
      model: 'kjv-mini',
      layer: 2,
      layerKind: 'transcoder',
      k: 8,
      dataset: 'kjv',
      nmse: 0.2,
      lossRecovered: null,
    })
    expect(list[1]).toMatchObject({ model: 'gpt2', layer: 1, layerKind: 'mxd', k: 4, dataset: null, nmse: null })
    expect(list[0]).toMatchObject({ model: null, layer: null, layerKind: null, k: null, nmse: null, trainNmse: null })
    expect(await backend.call('runs.summarize', { kind: 'layer-import' })).toHaveLength(1)
  })
})

describe('runs.delete', () => {
  it('removes the run’s rows and its store folder, and keeps every other file', async () => {
    const store = backend.ctx.store
    const keep = store.createRun('convert', { model: '/m', layer: 0 }, 'succeeded')
    const gone = store.createRun('convert', { model: '/m', layer: 0, out: outside }, 'failed')
    const dir = store.runDir(gone.id)
    mkdirSync(join(dir, 'layer'))
    writeFileSync(join(dir, 'layer', 'cfg.json'), '{}')
    writeFileSync(join(dir, 'step-1-checkpoint.bin'), 'x')
    store.addCheckpoint(gone.id, 1, join(dir, 'step-1-checkpoint.bin'), 'abc')
    store.addMetrics(gone.id, 1, { loss: 1 })
    store.log(gone.id, 'info', 'hello')
    // A user's folder the run points at, and a link inside the run folder to it: neither is followed.
    writeFileSync(join(outside, 'export.txt'), 'mine')
    symlinkSync(outside, join(dir, 'link-to-user-folder'))
    writeFileSync(join(store.runDir(keep.id), 'keep.bin'), 'k')

    const deleted: number[] = []
    const unsubscribe = backend.subscribe((e) => {
      if (e.event === 'run.deleted') deleted.push(e.data.id)
    })
    const result = await backend.call('runs.delete', { id: gone.id })
    unsubscribe()
    expect(result).toEqual({ id: gone.id, removedDir: dir })
    // Every window hears of it (other windows drop the row without reloading).
    expect(deleted).toEqual([gone.id])
    expect(existsSync(dir)).toBe(false)
    expect(readFileSync(join(outside, 'export.txt'), 'utf8')).toBe('mine')
    expect(existsSync(join(store.runDir(keep.id), 'keep.bin'))).toBe(true)
    expect(store.getRun(gone.id)).toBeUndefined()
    expect(store.getMetrics(gone.id)).toEqual([])
    expect(store.getCheckpoints(gone.id)).toEqual([])
    expect(store.getLog(gone.id)).toEqual([])
    expect(store.getRun(keep.id)).toBeDefined()
    await expect(backend.call('runs.get', { id: gone.id })).rejects.toThrow(/There is no run/)
  })

  it('deletes a run that has no folder', async () => {
    const run = backend.ctx.store.createRun('bench-backend', { sizes: [8] }, 'cancelled')
    expect(await backend.call('runs.delete', { id: run.id })).toEqual({ id: run.id, removedDir: null })
  })

  it('refuses a running or queued run, and an unknown one, with a clear message', async () => {
    const store = backend.ctx.store
    const running = store.createRun('convert', { model: '/m' }, 'running')
    writeFileSync(join(store.runDir(running.id), 'partial.bin'), 'p')
    await expect(backend.call('runs.delete', { id: running.id })).rejects.toThrow(
      `Run ${running.id} is running: cancel it first, then delete it.`,
    )
    expect(existsSync(join(store.runDir(running.id), 'partial.bin'))).toBe(true)
    const queued = store.createRun('convert', { model: '/m' }, 'queued')
    await expect(backend.call('runs.delete', { id: queued.id })).rejects.toThrow(/is queued: cancel it first/)
    await expect(backend.call('runs.delete', { id: 987_654 })).rejects.toThrow(/There is no run 987654/)
    // Finished, so closing the back end waits on nothing.
    store.setRunStatus(running.id, 'cancelled')
    store.setRunStatus(queued.id, 'cancelled')
  })
})
