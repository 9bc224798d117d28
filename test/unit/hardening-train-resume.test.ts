// Resuming a conversion run through the API (real worker threads, a real store): jobs.resume
// takes a new learning rate, which the run's config and log record and the resumed steps use;
// a run that stopped before its first checkpoint says it starts over instead of "Resumed.".
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../src/backend/backend.js'
import { trainConversion } from '../../src/jobs/convert/train.js'
import { initBackend } from '../../src/engine/backend.js'
import type { ApiEvent, Run } from '../../src/shared/api.js'
import { ConvertConfig } from '../../src/shared/convert.js'
import { Store } from '../../src/store/store.js'
import { tinyModelWithByteTokenizer } from '../helpers/byte-tokenizer.js'
import { jobContext, writeTrainCorpus } from './convert/helpers.js'

const tmp = mkdtempSync(join(tmpdir(), 'mxd-hardening-resume-'))
beforeAll(async () => {
  await initBackend()
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

let backend: Backend | undefined
afterEach(async () => {
  await backend?.close()
  backend = undefined
})

const modelDir = tinyModelWithByteTokenizer()
const corpus = writeTrainCorpus(tmp)
const config = ConvertConfig.parse({
  model: modelDir, layer: 1, data: corpus, k: 4, experts: 64, ctx: 32, batch: 64, tokens: 64 * 20, bufferRows: 512, harvestBatch: 4, lr: 3e-3, metricsEvery: 2, evaluate: false,
})

/**
 * Resolves with the run once it reaches a terminal status, whether that happens later or already
 * did (call it after jobs.resume has put the run back in the queue).
 */
function finished(b: Backend, id: number): Promise<Run> {
  return new Promise((resolve) => {
    const done = (r: Run | undefined): boolean => r !== undefined && !['queued', 'running'].includes(r.status)
    const off = b.subscribe((e: ApiEvent) => {
      if (e.event === 'run.changed' && e.data.id === id && done(e.data)) {
        off()
        resolve(e.data)
      }
    })
    const now = b.ctx.store.getRun(id)
    if (done(now)) {
      off()
      resolve(now!)
    }
  })
}

describe('jobs.resume', () => {
  it('continues a cancelled conversion from its checkpoint at the new lr, recorded in config and log', async () => {
    const dir = join(tmp, 'store-lr')
    // The cancelled run, made deterministically: the job stops right after its first checkpoint.
    const store = new Store({ dir })
    const runId = store.createRun('convert', config, 'running').id
    let stop = false
    expect(await trainConversion(jobContext(store, config, runId, () => stop), { afterCheckpoint: () => (stop = true) })).toBeNull()
    store.setRunStatus(runId, 'cancelled')
    const stoppedAt = store.latestCheckpoint(runId)!.step
    expect(stoppedAt).toBe(1)
    store.close()

    backend = await Backend.create({ storeDir: dir })
    await backend.call('jobs.resume', { id: runId, lr: 1e-3 })
    expect((await finished(backend, runId)).status).toBe('succeeded')
    const detail = await backend.call('runs.get', { id: runId })
    expect(detail.run.config.lr).toBe(1e-3)
    const log = detail.log.map((l) => l.message)
    expect(log).toContain('Resumed from the checkpoint of step 1 with lr 0.001 (was 0.003).')
    expect(log).toContain('Resumed from step 1 (64 tokens) with lr 0.001 (was 0.003 up to here).')
    // The steps after the resume ran at the new lr (past the 1-step warm-up, lr is constant).
    const lr = detail.metrics.filter((m) => m.name === 'lr')
    expect(lr.map((m) => m.step)).toEqual(Array.from({ length: 10 }, (_, i) => 2 * (i + 1)))
    for (const m of lr) expect(m.value).toBe(1e-3)
  }, 180_000)

  it('says "no checkpoint yet: starting over" for a run stopped before its first checkpoint', async () => {
    const dir = join(tmp, 'store-none')
    const store = new Store({ dir })
    // A run killed while harvesting its first buffer: interrupted, no checkpoint row.
    const runId = store.createRun('convert', config, 'interrupted').id
    store.addMetrics(runId, 3, { loss: 9 }) // reported by the attempt that was killed
    store.close()
    backend = await Backend.create({ storeDir: dir })
    await backend.call('jobs.resume', { id: runId })
    expect((await finished(backend, runId)).status).toBe('succeeded')
    const log = (await backend.call('runs.get', { id: runId })).log.map((l) => l.message)
    expect(log).toContain("Resumed: no checkpoint yet: starting over (the earlier attempt's 1 metric values are cleared).")
    expect(log).not.toContain('Resumed.')
    // One loss curve, from the start: the killed attempt's value is gone.
    const loss = backend.ctx.store.getMetrics(runId).filter((m) => m.name === 'loss')
    expect(loss.map((m) => m.step)).toEqual(Array.from({ length: 10 }, (_, i) => 2 * (i + 1)))
  }, 180_000)

  it('refuses a new lr for a run that is not a conversion, and an lr out of range', async () => {
    const dir = join(tmp, 'store-refuse')
    backend = await Backend.create({ storeDir: dir })
    const bench = backend.ctx.store.createRun('bench-backend', { sizes: [32], repeats: 1 }, 'cancelled')
    await expect(backend.call('jobs.resume', { id: bench.id, lr: 1e-3 })).rejects.toThrow(/only a conversion run can be resumed with a new learning rate/)
    const conv = backend.ctx.store.createRun('convert', config, 'cancelled')
    await expect(backend.call('jobs.resume', { id: conv.id, lr: 2 })).rejects.toThrow()
    expect(backend.ctx.store.getRun(conv.id)!.config.lr).toBe(3e-3)
    expect(backend.ctx.store.getRun(conv.id)!.status).toBe('cancelled')
  })
})
