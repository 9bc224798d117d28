// The job system with real worker threads on a real store.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Backend } from '../../src/backend/backend.js'
import type { ApiEvent, JobProgress, Run } from '../../src/shared/api.js'
import { RateMeter } from '../../src/jobs/rate.js'

let backend: Backend | undefined
afterEach(async () => {
  await backend?.close()
  backend = undefined
})

async function open(): Promise<Backend> {
  backend = await Backend.create({ storeDir: mkdtempSync(join(tmpdir(), 'mxd-jobs-')) })
  return backend
}

function until(b: Backend, pred: (e: ApiEvent) => boolean): Promise<ApiEvent> {
  return new Promise((resolve) => {
    const off = b.subscribe((e) => {
      if (pred(e)) {
        off()
        resolve(e)
      }
    })
  })
}

const finished = (b: Backend, id: number): Promise<Run> =>
  until(b, (e) => e.event === 'run.changed' && e.data.id === id && !['queued', 'running'].includes(e.data.status)).then(
    (e) => e.data as Run,
  )

describe('jobs', () => {
  it('runs the backend benchmark in a worker, streaming progress and storing GFLOP/s per size', async () => {
    const b = await open()
    const progress: JobProgress[] = []
    b.subscribe((e) => e.event === 'job.progress' && progress.push(e.data))
    const { runId } = await b.call('jobs.benchBackend', { sizes: [32, 64], repeats: 2 })
    const run = await finished(b, runId)
    expect(run.status).toBe('succeeded')
    const metrics = b.ctx.store.getMetrics(runId).filter((m) => m.name === 'gflops')
    expect(metrics.map((m) => m.step)).toEqual([32, 64])
    for (const m of metrics) expect(m.value).toBeGreaterThan(0)
    expect(progress.at(-1)).toMatchObject({ runId, fraction: 1, done: 4, total: 4, unit: 'matmuls' })
    expect(b.ctx.store.getCheckpoints(runId).map((c) => c.step)).toEqual([32, 64])
  })

  it('runs one job at a time, in order', async () => {
    const b = await open()
    const a = await b.call('jobs.benchBackend', { sizes: [32], repeats: 1 })
    const c = await b.call('jobs.benchBackend', { sizes: [32], repeats: 1 })
    expect(b.ctx.store.getRun(c.runId)?.status).toBe('queued')
    await finished(b, c.runId)
    const [ra, rc] = [b.ctx.store.getRun(a.runId)!, b.ctx.store.getRun(c.runId)!]
    expect(ra.status).toBe('succeeded')
    expect(rc.startedAt! >= ra.finishedAt!).toBe(true)
  })

  it('cancels a running job, then resumes it from its checkpoint without redoing finished sizes', async () => {
    const b = await open()
    const { runId } = await b.call('jobs.benchBackend', { sizes: [32, 768, 800, 832], repeats: 6 })
    // Wait until the first size is checkpointed, then cancel.
    await until(b, () => b.ctx.store.getCheckpoints(runId).length >= 1)
    await b.call('jobs.cancel', { id: runId })
    const cancelled = await finished(b, runId)
    expect(cancelled.status).toBe('cancelled')
    const before = b.ctx.store.getCheckpoints(runId).map((c) => c.step)
    expect(before.length).toBeLessThan(4)
    await b.call('jobs.resume', { id: runId })
    const done = await finished(b, runId)
    expect(done.status).toBe('succeeded')
    const steps = b.ctx.store.getMetrics(runId).filter((m) => m.name === 'gflops').map((m) => m.step)
    expect(steps.sort((x, y) => x - y)).toEqual([32, 768, 800, 832])
    // Each size was checkpointed exactly once: nothing finished before the cancel was redone.
    expect(b.ctx.store.getCheckpoints(runId).map((c) => c.step).sort((x, y) => x - y)).toEqual([32, 768, 800, 832])
    expect(b.ctx.store.getLog(runId).some((l) => /Resuming: \d of 4 sizes/.test(l.message))).toBe(true)
  })

  it('cancels a queued job at once', async () => {
    const b = await open()
    const first = await b.call('jobs.benchBackend', { sizes: [256], repeats: 3 })
    const second = await b.call('jobs.benchBackend', { sizes: [32], repeats: 1 })
    expect((await b.call('jobs.cancel', { id: second.runId })).status).toBe('cancelled')
    await finished(b, first.runId)
    expect(b.ctx.store.getRun(second.runId)?.status).toBe('cancelled')
    expect(b.ctx.store.getMetrics(second.runId)).toEqual([])
  })
})

describe('RateMeter', () => {
  it('measures over its window and estimates the time left', () => {
    let t = 0
    const m = new RateMeter(10_000, () => t)
    m.update(0)
    t = 1000
    expect(m.update(10)).toBeCloseTo(10)
    t = 2000
    expect(m.update(30)).toBeCloseTo(15)
    expect(RateMeter.eta(30, 60, 15)).toBe(2)
    expect(RateMeter.eta(60, 60, 0)).toBe(0)
    expect(RateMeter.eta(10, 60, 0)).toBeNull()
  })
})
