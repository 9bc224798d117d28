/// <reference lib="dom" />
// The Playground's token inspector in web mode (needs features.search and features.listLabels
// from the feature-search branch: on a branch where they are placeholders this test fails at the
// first inspected token). A transcoder for the bundled demo model is spliced (no steering), a
// generated token is clicked, and the inspector must list exactly the units whose post-TopK code
// is > 0 at that position, computed here by a forward of the same ids with the layer spliced,
// with their values; each links to its unit page, and "Steer" adds the unit to the steering rows.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runLayerDir } from '../../src/convert/export.js'
import { loadLayerFolder } from '../../src/convert/layer-file.js'
import { codesHookName, forwardSpliced } from '../../src/convert/splice.js'
import { registerDataset } from '../../src/data/registry.js'
import { initBackend } from '../../src/engine/backend.js'
import { loadLanguageModel } from '../../src/engine/models/load.js'
import { Store } from '../../src/store/store.js'
import { openApp, type AppPage } from '../helpers/app-page.js'
import { DEMO, runIndex, writeCorpus } from '../unit/features/helpers.js'
import { plantTokenUnit } from '../unit/steering/planted.js'

let app: AppPage
let storeDir: string
let layerRunId: number

beforeAll(async () => {
  await initBackend()
  const dir = mkdtempSync(join(tmpdir(), 'mxd-inspector-ui-'))
  storeDir = join(dir, 'store')
  const store = new Store({ dir: storeDir })
  try {
    const ds = await registerDataset(store.db, writeCorpus(dir), { heldOutFraction: 0.5 })
    ;({ layerRunId } = plantTokenUnit(store, dir, { unit: 2, width: 8, block: 3, token: ' LORD' }))
    await runIndex({ store, dir, datasetId: ds.id }, layerRunId, { tokens: 128, ctx: 32 })
  } finally {
    store.close()
  }
  app = await openApp({ store: storeDir, fullPage: true, cleanup: [dir] })
}, 300_000)

afterAll(async () => {
  await app?.close()
})

/** The units firing at position `pos` of `ids` with the layer spliced, highest first. */
async function unitsAt(ids: number[], pos: number): Promise<{ unit: number; value: number }[]> {
  const model = await loadLanguageModel(DEMO)
  const store = new Store({ dir: storeDir, readonly: true })
  const { layer, cfg } = loadLayerFolder(runLayerDir(store, layerRunId))
  store.close()
  try {
    const name = codesHookName(layer.kind, cfg.layer)
    const { cache, logits } = forwardSpliced(model, [ids], { cacheNames: [name], splices: [{ block: cfg.layer, layer }], stopAfterLayer: cfg.layer })
    logits?.dispose()
    const codes = (await cache[name]!.array()) as number[][] | number[][][]
    for (const t of Object.values(cache)) t.dispose()
    const row = (Array.isArray(codes[0]![0]) ? (codes as number[][][])[0]![pos]! : (codes as number[][])[pos]!) as number[]
    return row
      .map((value, unit) => ({ unit, value }))
      .filter((u) => u.value > 0)
      .sort((a, b) => b.value - a.value)
  } finally {
    layer.dispose()
    model.dispose()
  }
}

describe('the token inspector', () => {
  it('lists the spliced layer’s active units at a clicked token, links them and steers with one', async () => {
    const { page, web, shot } = app
    const client = await web.client()
    const ids: number[] = []
    let finished = false
    client.subscribe((e) => {
      if (e.event !== 'playground.event') return
      if (e.data.type === 'prompt') ids.splice(0, ids.length, ...e.data.ids)
      else if (e.data.type === 'token') ids.push(e.data.id)
      else if (e.data.type === 'done') finished = true
    })
    await page.goto(web.url)
    await page.goto(`http://127.0.0.1:${web.port}/#/playground?layer=${layerRunId}`)
    await expect.poll(() => page.getByTestId('pg-layer').locator('option:checked').textContent(), { timeout: 60_000 }).toContain(`Run #${layerRunId}`)
    await page.getByTestId('pg-prompt').fill('And the')
    await page.getByTestId('pg-max-tokens').fill('6')
    await page.getByTestId('pg-temperature').fill('0')
    await page.getByTestId('pg-generate').click()
    await page.getByTestId('pg-stop-reason').waitFor()
    await expect.poll(() => finished).toBe(true)
    client.close()

    const pos = ids.length - 2
    await page.locator(`[data-testid="pg-stream"] [data-pos="${pos}"]`).click()
    const rows = page.getByTestId('pg-inspector-unit')
    const want = await unitsAt(ids, pos)
    expect(want.length).toBeGreaterThan(0)
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(want.length)
    for (const [i, u] of want.entries()) {
      const cells = rows.nth(i).locator('td')
      expect(await cells.nth(0).textContent()).toBe(String(u.unit))
      expect(Number(await cells.nth(1).textContent())).toBeCloseTo(Number(u.value.toPrecision(3)), 6)
      expect(await cells.nth(0).locator('a').getAttribute('href')).toBe(`#/features/${layerRunId}/units/${u.unit}`)
    }
    await page.mouse.move(0, 0) // the hover card would cover the table
    await page.getByTestId('pg-inspector').scrollIntoViewIfNeeded()
    await shot('steer-02-token-inspector')

    await rows.nth(0).getByRole('button', { name: `Steer unit ${want[0]!.unit}` }).click()
    await expect.poll(() => page.getByTestId('pg-steer-unit').first().inputValue()).toBe(String(want[0]!.unit))
    expect(await page.getByTestId('pg-steer-value').first().inputValue()).toBe('100')
    expect(app.pageErrors).toEqual([])
  })
})
