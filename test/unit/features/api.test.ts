// features.* through the back end's dispatch (validation included) on a real store with a real
// index: listing sorts, filters and pages as a plain-JS sort and filter of the whole list do, an
// index is found by its own run or by its layer run, and bad requests are refused with a reason.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { registerDataset } from '../../../src/data/registry.js'
import { initBackend } from '../../../src/engine/backend.js'
import { createSparseLayer } from '../../../src/engine/layers/kinds.js'
import type { FeatureUnitRow } from '../../../src/shared/features.js'
import { importTestLayer, runIndex, writeCorpus } from './helpers.js'

const WIDTH = 64
let backend: Backend
let layerRunId: number
let indexRunId: number
let all: FeatureUnitRow[]

beforeAll(async () => {
  await initBackend()
  const dir = mkdtempSync(join(tmpdir(), 'mxd-features-api-'))
  backend = await Backend.create({ storeDir: join(dir, 'store'), bundledModelsDir: join(tmpdir(), 'none') })
  const store = backend.ctx.store
  const ds = await registerDataset(store.db, writeCorpus(dir), { heldOutFraction: 0.5 })
  const layer = createSparseLayer('transcoder', { dIn: 192, dOut: 192, width: WIDTH, k: 8, hidden: null, glu: false }, 5)
  layerRunId = importTestLayer(store, dir, layer, 0, 'layer')
  layer.dispose()
  indexRunId = await runIndex({ store, dir, datasetId: ds.id }, layerRunId, { tokens: 512, ctx: 32 })
  all = (await backend.call('features.list', { runId: layerRunId, limit: 1000 })).units
}, 120_000)

afterAll(async () => {
  await backend?.close()
})

describe('features.list / get / listByToken', () => {
  it('sorts, filters and pages like a plain sort and filter of every live unit', async () => {
    const list = await backend.call('features.list', { runId: indexRunId, limit: 1000 })
    expect(list.units).toEqual(all)
    expect(list.total).toBe(all.length)
    expect(list.total + list.index.dead).toBe(WIDTH)
    expect(all.every((u) => u.count > 0)).toBe(true)
    const byFreq = [...all].sort((a, b) => b.count - a.count || a.unit - b.unit)
    expect(all).toEqual(byFreq)
    const byMaxAsc = [...all].sort((a, b) => a.maxActivation - b.maxActivation || a.unit - b.unit)
    expect((await backend.call('features.list', { runId: layerRunId, sort: 'max', order: 'asc', limit: 1000 })).units).toEqual(byMaxAsc)
    // Pages of 7 put back together are the whole list.
    const pages: FeatureUnitRow[] = []
    for (let offset = 0; offset < all.length; offset += 7) pages.push(...(await backend.call('features.list', { runId: layerRunId, offset, limit: 7 })).units)
    expect(pages).toEqual(all)
    // A frequency band: the median unit's frequency up to twice it.
    const lo = byFreq[Math.floor(all.length / 2)]!.frequency
    const band = await backend.call('features.list', { runId: layerRunId, minFrequency: lo, maxFrequency: 2 * lo, limit: 1000 })
    const expected = byFreq.filter((u) => u.frequency >= lo && u.frequency <= 2 * lo)
    expect(band.units).toEqual(expected)
    expect(band.total).toBe(expected.length)
    expect(expected.length).toBeGreaterThan(0)
  })

  it('gives a unit page by index run or layer run, and the units on its top token', async () => {
    const unit = all[0]!.unit
    const byIndex = await backend.call('features.get', { runId: indexRunId, unit })
    expect(await backend.call('features.get', { runId: layerRunId, unit })).toEqual(byIndex)
    expect(byIndex.stats).toEqual(all[0])
    const top = byIndex.top[0]!
    const tokenId = top.ids[top.position]!
    const byText = await backend.call('features.listByToken', { runId: layerRunId, token: top.tokens![top.position]! })
    const byId = await backend.call('features.listByToken', { runId: layerRunId, tokenId })
    expect(byText.matches.find((m) => m.tokenId === tokenId)).toEqual(byId.matches[0])
    expect(byId.matches[0]!.units.map((u) => u.unit)).toContain(unit)
  })

  it('refuses what it cannot answer, with the reason', async () => {
    await expect(backend.call('features.get', { runId: layerRunId, unit: WIDTH })).rejects.toThrow(`units 0…${WIDTH - 1}`)
    await expect(backend.call('features.list', { runId: 9999 })).rejects.toThrow('There is no run 9999')
    await expect(backend.call('features.list', { runId: layerRunId, limit: 5000 })).rejects.toThrow()
    await expect(backend.call('features.start', { layerRunId, tokens: 1e12 })).rejects.toThrow()
    await expect(backend.call('features.start', { layerRunId: indexRunId })).rejects.toThrow('only conversion (convert) and imported (layer-import) runs have a layer')
    await expect(backend.call('features.listByToken', { runId: layerRunId })).rejects.toThrow('exactly one of token or tokenId')
  })
})
