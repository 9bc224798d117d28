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
    const { runId } = await b.call('bench.start', { sizes: [32, 64], repeats: 2 })
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
    const a = await b.call('bench.start', { sizes: [32], repeats: 1 })
    const c = await b.call('bench.start', { sizes: [32], repeats: 1 })
    // (Whether `a` is still running at this point depends on the machine's speed, so the order
    // is checked on the recorded times instead.)
    await finished(b, c.runId)
    const [ra, rc] = [b.ctx.store.getRun(a.runId)!, b.ctx.store.getRun(c.runId)!]
    expect(ra.status).toBe('succeeded')
    expect(rc.startedAt! >= ra.finishedAt!).toBe(true)
  })

  it('cancels a running job, then resumes it from its checkpoint without redoing finished sizes', async () => {
    const b = await open()
    const sizes = [32, 1024, 1056, 1088]
    const { runId } = await b.call('bench.start', { sizes, repeats: 6 })
    // Cancel in the same turn as the first checkpoint's event, while the worker is busy with
    // ≈ 55 GFLOP of larger sizes: a cancel sent later (after an await) could find the run finished
    // on a fast back end, and then there would be nothing to cancel.
    const cancelled = new Promise<Run>((resolve, reject) => {
      const off = b.subscribe(() => {
        if (b.ctx.store.getCheckpoints(runId).length === 0) return
        off()
        const ended = finished(b, runId)
        b.call('jobs.cancel', { id: runId }).then(() => ended).then(resolve, reject)
      })
    })
    expect((await cancelled).status).toBe('cancelled')
    const before = b.ctx.store.getCheckpoints(runId).map((c) => c.step)
    expect(before.length).toBeLessThan(sizes.length)
    const done = finished(b, runId)
    await b.call('jobs.resume', { id: runId })
    expect((await done).status).toBe('succeeded')
    const steps = b.ctx.store.getMetrics(runId).filter((m) => m.name === 'gflops').map((m) => m.step)
    expect(steps.sort((x, y) => x - y)).toEqual(sizes)
    // Each size was checkpointed exactly once: nothing finished before the cancel was redone.
    expect(b.ctx.store.getCheckpoints(runId).map((c) => c.step).sort((x, y) => x - y)).toEqual(sizes)
    expect(b.ctx.store.getLog(runId).some((l) => /Resuming: \d of 4 sizes/.test(l.message))).toBe(true)
  })

  it('cancels a queued job at once', async () => {
    const b = await open()
    // A first job too long to end during the test (≈ 17 TFLOP) keeps the second one queued.
    const first = await b.call('bench.start', { sizes: [2048], repeats: 1000 })
    const second = await b.call('bench.start', { sizes: [32], repeats: 1 })
    expect((await b.call('jobs.cancel', { id: second.runId })).status).toBe('cancelled')
    expect(b.ctx.store.getRun(second.runId)?.status).toBe('cancelled')
    const firstEnded = finished(b, first.runId)
    await b.call('jobs.cancel', { id: first.runId })
    expect((await firstEnded).status).toBe('cancelled')
    // The queue went on to nothing: the cancelled second job never ran.
    await b.ctx.queue.whenIdle()
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
