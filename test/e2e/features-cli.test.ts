// Feature browsing as a user runs it, in real `mxd` processes on a real store: index an imported
// layer's units on held-out text, list them, show one. The listing agrees with the unit page,
// live + dead units add up to the width, and every shown context's activation at its ranked
// token is the one stored in its per-token values.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/engine/backend.js'
import { loadLayerFolder } from '../../src/convert/layer-file.js'
import { codesHookName, forwardSpliced } from '../../src/convert/splice.js'
import { createSparseLayer } from '../../src/engine/layers/kinds.js'
import { loadLanguageModel } from '../../src/engine/models/load.js'
import type { FeatureList, FeatureTokenUnits, FeatureUnit } from '../../src/shared/features.js'
import { Store } from '../../src/store/store.js'
import { mxd } from '../helpers/mxd-cli.js'
import { DEMO, importTestLayer, writeCorpus } from '../unit/features/helpers.js'

const WIDTH = 40
let storeDir: string
let corpus: string
let layerRunId: number

beforeAll(async () => {
  await initBackend()
  const dir = mkdtempSync(join(tmpdir(), 'mxd-e2e-features-'))
  corpus = writeCorpus(dir)
  storeDir = join(dir, 'store')
  const store = new Store({ dir: storeDir })
  const layer = createSparseLayer('transcoder', { dIn: 192, dOut: 192, width: WIDTH, k: 4, hidden: null, glu: false }, 11)
  layerRunId = importTestLayer(store, dir, layer, 2, 'layer')
  layer.dispose()
  store.close()
})

describe('mxd features', () => {
  it('index → list → show --json', async () => {
    const indexed = await mxd(['features', 'index', '--run', String(layerRunId), '--data', corpus, '--tokens', '512', '--ctx', '32', '--store', storeDir, '--json'])
    expect(indexed.code, indexed.stderr).toBe(0)
    const last = JSON.parse(indexed.stdout.trim().split('\n').at(-1)!) as { run: { id: number; status: string; kind: string }; metrics: Record<string, number> }
    expect(last.run).toMatchObject({ status: 'succeeded', kind: 'feature-index' })
    // Whole sequences of 32 from the held-out split (the default fraction may hold fewer than asked for).
    const tokens = last.metrics['features.tokens']!
    expect(tokens % 32).toBe(0)
    expect(tokens).toBeGreaterThan(0)
    expect(tokens).toBeLessThanOrEqual(512)

    const listed = await mxd(['features', 'list', '--run', String(layerRunId), '--sort', 'freq', '--store', storeDir, '--json'])
    expect(listed.code, listed.stderr).toBe(0)
    const list = JSON.parse(listed.stdout) as FeatureList
    expect(list.index).toMatchObject({ indexRunId: last.run.id, layerRunId, width: WIDTH, tokens, block: 2 })
    expect(list.total + list.index.dead).toBe(WIDTH)
    expect(list.units.length).toBe(list.total)
    for (let i = 1; i < list.units.length; i++) expect(list.units[i]!.count).toBeLessThanOrEqual(list.units[i - 1]!.count)
    // Every token fires at most K units: the counts add up to at most K per token.
    expect(list.units.reduce((s, u) => s + u.count, 0)).toBeLessThanOrEqual(4 * tokens)

    const pick = list.units[0]!
    const shown = await mxd(['features', 'show', '--run', String(layerRunId), '--unit', String(pick.unit), '--store', storeDir, '--json'])
    expect(shown.code, shown.stderr).toBe(0)
    const page = JSON.parse(shown.stdout) as FeatureUnit
    expect(page.stats).toEqual(pick)
    expect(page.histogram.reduce((a, b) => a + b, 0)).toBe(pick.count)
    expect(page.top.length).toBe(Math.min(20, pick.count))
    expect(page.top[0]!.value).toBeCloseTo(pick.maxActivation, 5)
    for (const c of [...page.top, ...page.bands.flatMap((b) => b.contexts)]) {
      expect(c.values.length).toBe(c.ids.length)
      expect(c.values[c.position]).toBeCloseTo(c.value, 5)
      expect(c.tokens?.length).toBe(c.ids.length)
    }

    const text = await mxd(['features', 'show', '--run', String(layerRunId), '--unit', String(pick.unit), '--store', storeDir])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain(`unit ${pick.unit} of the transcoder layer of block 2`)

    // Units by token: the ranked token of the unit's top context, by its text.
    const top = page.top[0]!
    const searched = await mxd(['features', 'search', '--run', String(layerRunId), '--token', top.tokens![top.position]!, '--store', storeDir, '--json'])
    expect(searched.code, searched.stderr).toBe(0)
    const found = JSON.parse(searched.stdout) as FeatureTokenUnits
    const match = found.matches.find((m) => m.tokenId === top.ids[top.position])!
    expect(match.occurrences).toBeGreaterThan(0)
    for (const u of match.units) expect(u.count).toBeLessThanOrEqual(match.occurrences)
  }, 300_000)

  it('search --text: the units active at each token, as a fresh spliced forward over the same ids gives them', async () => {
    const r = await mxd(['features', 'search', '--run', String(layerRunId), '--text', 'And the LORD said unto Moses', '--store', storeDir, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { block: number; tokens: { id: number; text: string; units: { unit: number; value: number; frequency: number | null }[] }[] }
    expect(out.block).toBe(2)
    const ids = out.tokens.map((t) => t.id)
    expect(ids.length).toBeGreaterThan(3)
    const { layer } = loadLayerFolder(join(storeDir, 'runs', String(layerRunId), 'layer'))
    const model = await loadLanguageModel(DEMO)
    const name = codesHookName(layer.kind, 2)
    const { logits, cache } = forwardSpliced(model, [ids], { splices: [{ block: 2, layer }], cacheNames: [name] })
    const codes = (await cache[name]!.data()) as Float32Array
    logits?.dispose()
    for (const t of Object.values(cache)) t.dispose()
    model.dispose()
    layer.dispose()
    out.tokens.forEach((t, i) => {
      const expected = Array.from(codes.subarray(i * WIDTH, (i + 1) * WIDTH))
        .map((value, unit) => ({ unit, value }))
        .filter((u) => u.value > 0)
        .sort((a, b) => b.value - a.value)
      expect(t.units.map((u) => u.unit), `token ${i}`).toEqual(expected.map((u) => u.unit))
      t.units.forEach((u, j) => expect(u.value).toBeCloseTo(expected[j]!.value, 4))
      // The index exists (the test above made it): each unit's frequency comes with it.
      for (const u of t.units) expect(u.frequency).not.toBeNull()
    })
  }, 120_000)

  it('refuses a unit outside the layer and a run without an index', async () => {
    const bad = await mxd(['features', 'show', '--run', String(layerRunId), '--unit', String(WIDTH), '--store', storeDir, '--json'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain(`units 0…${WIDTH - 1}`)
    const none = await mxd(['features', 'list', '--run', '999', '--store', storeDir])
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('There is no run 999')
  }, 120_000)
})
