// probe.* through the back end's dispatch (validation included) on a real store, the job run by
// the real queue in a worker: a registered dataset id as the task, the run's result and its row
// in the comparison table, bad requests refused with a reason, a task the job refuses, and a
// cancelled probe that leaves no result.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { registerDataset } from '../../../src/data/registry.js'
import { initBackend } from '../../../src/engine/backend.js'
import { createSparseLayer } from '../../../src/engine/layers/kinds.js'
import type { JobContext, ProgressUpdate } from '../../../src/jobs/job.js'
import { probeJob } from '../../../src/jobs/probe.js'
import { PROBE_RESULT_FILE, ProbeConfig } from '../../../src/shared/probe.js'
import { waitFor } from '../../helpers/wait.js'
import { importTestLayer } from '../features/helpers.js'

const SHIPPED = join(import.meta.dirname, '../../../resources/tasks/kjv-sections.jsonl')
let dir: string
let backend: Backend
let layerRunId: number
let task: string

/** The run's state once it left the queue. */
async function finished(runId: number): Promise<Awaited<ReturnType<typeof backend.call<'probe.get'>>>> {
  return waitFor(`probe run ${runId}`, async () => {
    const s = await backend.call('probe.get', { runId })
    return s.status === 'queued' || s.status === 'running' ? undefined : s
  }, { timeoutMs: 300_000, intervalMs: 100 })
}

beforeAll(async () => {
  await initBackend()
  dir = mkdtempSync(join(tmpdir(), 'mxd-probe-api-'))
  backend = await Backend.create({ storeDir: join(dir, 'store'), bundledModelsDir: join(tmpdir(), 'none') })
  const layer = createSparseLayer('transcoder', { dIn: 192, dOut: 192, width: 32, k: 4, hidden: null, glu: false }, 9)
  layerRunId = importTestLayer(backend.ctx.store, dir, layer, 1, 'layer')
  layer.dispose()
  // The shipped task's first 60 verses: 10 per section (it is interleaved).
  task = join(dir, 'task.jsonl')
  writeFileSync(task, readFileSync(SHIPPED, 'utf8').split('\n').slice(0, 60).join('\n') + '\n')
}, 120_000)

afterAll(async () => {
  await backend?.close()
})

describe('probe.start / get / list', () => {
  it('probes a layer on a registered dataset and lists the run', async () => {
    const ds = await registerDataset(backend.ctx.store.db, task, { textField: 'text' })
    const { runId } = await backend.call('probe.start', { layerRunId, data: ds.id, seed: 2 })
    const state = await finished(runId)
    expect(state.error).toBeNull()
    expect(state.status).toBe('succeeded')
    const r = state.result!
    expect(r.task).toMatchObject({ path: task, name: 'task.jsonl', examples: 60, truncated: 0, empty: 0 })
    expect(r.split).toEqual({ seed: 2, train: 36, validation: 12, test: 12 })
    expect(r.classes).toHaveLength(6)
    for (const c of r.classes) expect(c.positives).toEqual({ train: 6, validation: 2, test: 2 })
    const { runs, tasks } = await backend.call('probe.list', {})
    expect(tasks.map((t) => t.path)).toEqual([SHIPPED])
    expect(runs.find((x) => x.runId === runId)).toMatchObject({ layerRunId, kind: 'transcoder', block: 1, k: 4, width: 32, task: 'task.jsonl', classes: 6, meanF1: r.mean.f1, meanBalancedAccuracy: r.mean.balancedAccuracy })
  })

  it('refuses bad requests with a reason', async () => {
    await expect(backend.call('probe.start', { layerRunId: 9999, data: task })).rejects.toMatchObject({ code: 'not_found', message: 'There is no run 9999.' })
    const { runId } = (await backend.call('probe.list', {})).runs[0]!
    await expect(backend.call('probe.start', { layerRunId: runId, data: task })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/is a probe run; only conversion/) })
    await expect(backend.call('probe.get', { runId: layerRunId })).rejects.toMatchObject({ code: 'not_found' })
    await expect(backend.call('probe.start', { layerRunId, data: task, extra: 1 } as never)).rejects.toMatchObject({ code: 'bad_request' })
    await expect(backend.call('probe.start', { layerRunId, data: task, labelField: 'x'.repeat(300) })).rejects.toMatchObject({ code: 'bad_request' })
  })

  it('fails a run whose task has one label, saying what to do', async () => {
    const one = join(dir, 'one.csv')
    writeFileSync(one, 'text,label\n' + Array.from({ length: 8 }, (_, i) => `verse ${i},Law`).join('\n'))
    const { runId } = await backend.call('probe.start', { layerRunId, data: one })
    const state = await finished(runId)
    expect(state.status).toBe('failed')
    expect(state.error).toContain(`${one}: every example has the label "Law": a probing task needs at least two labels.`)
    expect(state.result).toBeNull()
  })

  it('stops between batches when cancelled, reporting progress and writing no result', async () => {
    const config = ProbeConfig.parse({ layerRunId, data: task, batch: 8 })
    const store = backend.ctx.store
    const run = store.createRun('probe', config)
    const updates: ProgressUpdate[] = []
    const ctx: JobContext<ProbeConfig> = {
      runId: run.id,
      kind: 'probe',
      config,
      store,
      resumeFrom: undefined,
      // Cancelled once the first batch reported.
      cancelled: () => updates.length > 0,
      progress: (p) => updates.push(p),
      log: (level, message) => store.log(run.id, level, message),
      checkpoint: () => {
        throw new Error('the probe writes no checkpoints')
      },
    }
    await probeJob.run(ctx)
    expect(updates).toHaveLength(1)
    expect(updates[0]).toMatchObject({ unit: 'examples', done: 8, total: 60 })
    expect(existsSync(join(store.runDir(run.id), PROBE_RESULT_FILE))).toBe(false)
  })
})
