// features.setLabel / features.listLabels and the label in features.list, through the back end's
// dispatch (validation included) on a real store with two real indexes of one layer: a label is
// set, updated and cleared; list and search find it by substring whatever the case; it outlives a
// re-index; it goes with its layer run; bad requests are refused with the reason.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { registerDataset } from '../../../src/data/registry.js'
import { initBackend } from '../../../src/engine/backend.js'
import { createSparseLayer } from '../../../src/engine/layers/kinds.js'
import { importTestLayer, runIndex, writeCorpus, type Fixture } from './helpers.js'

const WIDTH = 32
let backend: Backend
let f: Fixture
let layerRunId: number
let firstIndex: number

beforeAll(async () => {
  await initBackend()
  const dir = mkdtempSync(join(tmpdir(), 'mxd-features-labels-'))
  backend = await Backend.create({ storeDir: join(dir, 'store'), bundledModelsDir: join(tmpdir(), 'none') })
  const store = backend.ctx.store
  const ds = await registerDataset(store.db, writeCorpus(dir, 120), { heldOutFraction: 0.5 })
  f = { store, dir, datasetId: ds.id }
  const layer = createSparseLayer('transcoder', { dIn: 192, dOut: 192, width: WIDTH, k: 4, hidden: null, glu: false }, 7)
  layerRunId = importTestLayer(store, dir, layer, 0, 'layer')
  layer.dispose()
  firstIndex = await runIndex(f, layerRunId, { tokens: 128, ctx: 32 })
}, 120_000)

afterAll(async () => {
  await backend?.close()
})

async function liveUnits(runId: number): Promise<{ unit: number; label: string | null }[]> {
  return (await backend.call('features.list', { runId, limit: 1000 })).units
}

describe('feature labels', () => {
  it('sets, updates and clears a label; features.get and features.list carry it', async () => {
    const [a, b] = await liveUnits(firstIndex)
    const set = await backend.call('features.setLabel', { runId: firstIndex, unit: a!.unit, label: '  Genesis names ', notes: 'fires on begat' })
    expect(set).toMatchObject({ layerRunId, unit: a!.unit, label: 'Genesis names', notes: 'fires on begat' })
    expect(Date.parse(set!.updatedAt)).not.toBeNaN()
    // Set through the layer run: the same entry (labels belong to the layer).
    const updated = await backend.call('features.setLabel', { runId: layerRunId, unit: a!.unit, label: 'Genesis NAMES' })
    expect(updated).toMatchObject({ label: 'Genesis NAMES', notes: '' })
    await backend.call('features.setLabel', { runId: layerRunId, unit: b!.unit, label: 'punctuation 100%', notes: '' })
    expect((await backend.call('features.get', { runId: firstIndex, unit: a!.unit })).stats.label).toBe('Genesis NAMES')
    const rows = await liveUnits(layerRunId)
    expect(rows.find((r) => r.unit === a!.unit)!.label).toBe('Genesis NAMES')
    expect(rows.find((r) => r.unit === b!.unit)!.label).toBe('punctuation 100%')
    expect(rows.filter((r) => r.label !== null)).toHaveLength(2)
    // The label filter: a case-insensitive substring, % and _ taken literally, unlabelled units left out.
    const names = await backend.call('features.list', { runId: firstIndex, label: 'genesis', limit: 1000 })
    expect(names.units.map((r) => r.unit)).toEqual([a!.unit])
    expect(names.total).toBe(1)
    expect((await backend.call('features.list', { runId: firstIndex, label: '100%', limit: 1000 })).units.map((r) => r.unit)).toEqual([b!.unit])
    expect((await backend.call('features.list', { runId: firstIndex, label: 'n_m', limit: 1000 })).total).toBe(0)
    // Empty label and notes clear the entry.
    expect(await backend.call('features.setLabel', { runId: layerRunId, unit: b!.unit, label: ' ', notes: '' })).toBeNull()
    expect((await backend.call('features.listLabels', { runId: layerRunId })).labels.map((l) => l.unit)).toEqual([a!.unit])
  })

  it('searches labels and notes by substring, case-insensitively', async () => {
    const [, , c] = await liveUnits(firstIndex)
    await backend.call('features.setLabel', { runId: layerRunId, unit: c!.unit, label: 'kings', notes: 'Mostly in Chronicles' })
    const byNotes = await backend.call('features.listLabels', { runId: firstIndex, query: 'chronicles' })
    expect(byNotes).toMatchObject({ layerRunId, labels: [{ unit: c!.unit, label: 'kings', notes: 'Mostly in Chronicles' }] })
    const all = await backend.call('features.listLabels', { runId: layerRunId })
    expect(all.labels.map((l) => l.label).sort()).toEqual(['Genesis NAMES', 'kings'])
    expect((await backend.call('features.listLabels', { runId: layerRunId, query: 'nothing like it' })).labels).toEqual([])
  })

  it('keeps the labels when the layer is indexed again', async () => {
    const before = await backend.call('features.listLabels', { runId: layerRunId })
    const second = await runIndex(f, layerRunId, { tokens: 96, ctx: 32 })
    expect(second).not.toBe(firstIndex)
    expect(await backend.call('features.listLabels', { runId: second })).toEqual(before)
    const rows = await liveUnits(second)
    for (const l of before.labels) {
      const row = rows.find((r) => r.unit === l.unit)
      if (row) expect(row.label).toBe(l.label)
    }
  })

  it('refuses bad input with the reason', async () => {
    await expect(backend.call('features.setLabel', { runId: layerRunId, unit: WIDTH, label: 'x' })).rejects.toThrow(`units 0…${WIDTH - 1}`)
    await expect(backend.call('features.setLabel', { runId: 9999, unit: 0, label: 'x' })).rejects.toThrow('There is no run 9999')
    await expect(backend.call('features.setLabel', { runId: layerRunId, unit: 0, label: 'x'.repeat(201) })).rejects.toThrow()
    await expect(backend.call('features.setLabel', { runId: layerRunId, unit: -1, label: 'x' })).rejects.toThrow()
    await expect(backend.call('features.listLabels', { runId: layerRunId, query: '' })).rejects.toThrow()
    const other = backend.ctx.store.createRun('pretrain', {}, 'succeeded')
    await expect(backend.call('features.listLabels', { runId: other.id })).rejects.toThrow('labels belong to a layer')
  })

  it('deletes the labels with their layer run', async () => {
    expect(backend.ctx.store.listFeatureLabels(layerRunId).length).toBeGreaterThan(0)
    await backend.call('runs.delete', { id: layerRunId })
    expect(backend.ctx.store.listFeatureLabels(layerRunId)).toEqual([])
    const left = backend.ctx.store.db.prepare('SELECT COUNT(*) AS n FROM feature_labels WHERE layer_run_id = ?').get(layerRunId) as { n: number }
    expect(left.n).toBe(0)
  })
})
