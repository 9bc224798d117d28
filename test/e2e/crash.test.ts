// Crash safety: the web back end is killed with SIGKILL in the middle of a job. On restart the
// run shows "interrupted", the database passes integrity_check, every metric flushed before the
// kill is still there, and the run resumes from its last checkpoint to the end.
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/wait.js'
import { startWebProcess, tempStore, type WebProcess } from '../helpers/web-process.js'
import type { Run } from '../../src/shared/api.js'

const started: WebProcess[] = []
afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null && p.child.signalCode === null) await p.kill()
})

function readMetrics(store: string): { step: number; name: string; value: number }[] {
  // A separate read-only connection, as another process would see the file.
  const db = new Database(join(store, 'mxd.sqlite'), { readonly: true, fileMustExist: true })
  try {
    return db.prepare('SELECT step, name, value FROM metrics ORDER BY name, step').all() as never
  } finally {
    db.close()
  }
}

describe('crash safety', () => {
  it('survives SIGKILL mid-job and resumes from the last checkpoint', async () => {
    const store = tempStore('mxd-crash-')
    const sizes = [64, 128, 192, 1024, 1100]
    const first = await startWebProcess({ store })
    started.push(first)
    const client = await first.client()
    const { runId } = await client.call('bench.start', { sizes, repeats: 20 })

    // Let a few sizes finish and flush, then kill the process with no chance to clean up.
    const flushed = await waitFor('three flushed sizes', () => {
      const m = readMetrics(store).filter((x) => x.name === 'gflops')
      return m.length >= 3 ? m : undefined
    })
    await first.kill()
    const afterKill = readMetrics(store)
    expect(afterKill.filter((m) => m.name === 'gflops').length).toBeLessThan(sizes.length)

    const second = await startWebProcess({ store })
    started.push(second)
    const c2 = await second.client()
    const detail = await c2.call('runs.get', { id: runId })
    expect(detail.run.status).toBe('interrupted')
    expect(detail.run.error).toMatch(/resume/)

    const db = new Database(join(store, 'mxd.sqlite'), { readonly: true })
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    db.close()
    for (const m of afterKill) expect(detail.metrics).toContainEqual(m)
    for (const m of flushed) expect(detail.metrics).toContainEqual(m)

    // Resume: the finished sizes are not measured again, the rest are.
    const done = new Promise<Run>((resolve) =>
      c2.subscribe((e) => {
        if (e.event === 'run.changed' && e.data.id === runId && e.data.status !== 'running' && e.data.status !== 'queued') resolve(e.data)
      }),
    )
    await c2.call('jobs.resume', { id: runId })
    expect((await done).status).toBe('succeeded')
    const final = await c2.call('runs.get', { id: runId })
    const gflops = final.metrics.filter((m) => m.name === 'gflops')
    expect(gflops.map((m) => m.step).sort((a, b) => a - b)).toEqual(sizes)
    for (const m of flushed) expect(gflops).toContainEqual(m) // unchanged values: not re-measured
    c2.close()
    client.close()
    await second.stop()
  })
})
