/// <reference lib="dom" />
// The Features pages end to end in web mode: real `mxd web` on a temp store holding a transcoder
// layer imported for block 1 of the bundled demo model and a registered corpus; the built renderer
// in Debian's Chromium. Starts a feature index from the wizard, waits for it on the page, opens
// the unit list and sorts it, opens a unit page (contexts shaded by activation, the histogram
// drawn, its ablation table), saves a label, then finds the unit again by label search and reads
// the token and text search; steers with the unit from its page (the Playground, side by side)
// and probes the layer from its unit list. What the page shows is checked against the API's answers. Screenshots: test-results/screenshots/fu-*.png.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerDataset } from '../../src/data/registry.js'
import { initBackend } from '../../src/engine/backend.js'
import { createSparseLayer } from '../../src/engine/layers/kinds.js'
import type { FeatureUnit } from '../../src/shared/features.js'
import type { WsClient } from '../../src/shared/ws-client.js'
import { Store } from '../../src/store/store.js'
import { openApp, type AppPage } from '../helpers/app-page.js'
import { waitFor } from '../helpers/wait.js'
import { importTestLayer, writeCorpus } from '../unit/features/helpers.js'

const WIDTH = 48
const TOKENS = 1024
let app: AppPage
let client: WsClient
let layerRunId = 0
let datasetId = 0
let indexRunId = 0
let opened: FeatureUnit
let taskFile = ''

beforeAll(async () => {
  await initBackend()
  const dir = mkdtempSync(join(tmpdir(), 'mxd-fu-ui-'))
  const storeDir = join(dir, 'store')
  const store = new Store({ dir: storeDir })
  datasetId = (await registerDataset(store.db, writeCorpus(dir), { heldOutFraction: 0.5 })).id
  const layer = createSparseLayer('transcoder', { dIn: 192, dOut: 192, width: WIDTH, k: 4, hidden: null, glu: false }, 3)
  layerRunId = importTestLayer(store, dir, layer, 1, 'layer')
  layer.dispose()
  store.close()
  // A small labelled task for the probing step: 20 verses about light, 20 about water.
  const light = ['the light shineth', 'God saw the light', 'a lamp unto my feet', 'the sun by day', 'the stars of heaven']
  const water = ['the waters of the sea', 'the river of Egypt', 'rain upon the earth', 'the fountains of the deep', 'a well of water']
  taskFile = join(dir, 'task.jsonl')
  const lines = [0, 1, 2, 3].flatMap((i) => [
    ...light.map((t) => JSON.stringify({ text: `And ${t}, verse ${i}.`, label: 'light' })),
    ...water.map((t) => JSON.stringify({ text: `And ${t}, verse ${i}.`, label: 'water' })),
  ])
  writeFileSync(taskFile, lines.join('\n') + '\n')
  app = await openApp({ store: storeDir, cleanup: [dir] })
  client = await app.web.client()
}, 120_000)

afterAll(async () => {
  client?.close()
  await app?.close()
})

describe('Features pages in web mode', () => {
  it('starts an index from the wizard and follows it to the unit list', async () => {
    const { page } = app
    await page.goto(`${app.web.url}#/features`)
    await page.getByRole('heading', { name: 'Features', level: 1 }).waitFor()
    await page.locator('input[name="fmodel"]:not([disabled])').first().check()
    await page.getByTestId('features-wizard-next').click()
    await page.locator(`[data-layer-run="${layerRunId}"] input`).check()
    await app.shot('fu-wizard-layer')
    await page.getByTestId('features-wizard-next').click()
    await page.locator('[data-source="dataset"] input').check()
    await page.getByTestId('features-dataset').selectOption(String(datasetId))
    await page.getByTestId('features-wizard-next').click()
    await page.locator('#f-tokens').fill(String(TOKENS))
    await app.shot('fu-wizard-tokens')
    await page.getByTestId('features-wizard-next').click()
    await page.getByTestId('features-wizard-step-review').waitFor()
    await app.shot('fu-wizard')
    await page.getByTestId('features-wizard-start').click()

    // The job card follows the run to its end (no sleeps: the link appears when it succeeded).
    await page.getByTestId('features-job').waitFor()
    await page.getByTestId('features-open').waitFor({ timeout: 170_000 })
    await app.shot('fu-job-done')
    await page.getByTestId('features-open').click()
    await page.getByTestId('unit-table').waitFor()
    indexRunId = Number(/#\/features\/(\d+)/.exec(page.url())![1])
    const list = await client.call('features.list', { runId: indexRunId, limit: 1000 })
    expect(list.index).toMatchObject({ layerRunId, width: WIDTH, kind: 'transcoder', block: 1 })
    await expect.poll(() => page.getByTestId('index-dead').innerText()).toContain(String(list.index.dead))
    // Default order: most frequent first, as the API gives it.
    const shownUnits = async (): Promise<number[]> =>
      await page.locator('[data-testid="unit-table"] tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-unit'))))
    await expect.poll(shownUnits).toEqual(list.units.slice(0, 50).map((u) => u.unit))
    await app.shot('fu-list')
  }, 200_000)

  it('sorts by max activation and opens a unit page with shaded contexts and its histogram', async () => {
    const { page } = app
    await page.getByTestId('sort-max').click()
    const byMax = await client.call('features.list', { runId: indexRunId, sort: 'max', order: 'desc', limit: 50 })
    const shownUnits = async (): Promise<number[]> =>
      await page.locator('[data-testid="unit-table"] tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-unit'))))
    await expect.poll(shownUnits).toEqual(byMax.units.map((u) => u.unit))
    const pick = byMax.units[0]!
    await page.locator(`[data-testid="unit-table"] tbody tr[data-unit="${pick.unit}"]`).click()
    await page.getByRole('heading', { name: `Unit ${pick.unit}`, level: 1 }).waitFor()
    opened = await client.call('features.get', { runId: indexRunId, unit: pick.unit })

    const contexts = page.locator('[data-testid="top-contexts"] [data-testid="context"]')
    await expect.poll(() => contexts.count()).toBe(opened.top.length)
    // The first context's ranked token carries the unit's maximum, fully shaded; the hover title gives the value.
    const ranked = contexts.first().locator('.tok.ranked')
    expect(Number(await ranked.getAttribute('data-value'))).toBeCloseTo(pick.maxActivation, 5)
    expect(await ranked.getAttribute('style')).toContain('--a: 1')
    expect(await ranked.getAttribute('title')).toContain('activation')
    // Every shaded token's intensity is its value over its context's largest.
    const shading = await contexts
      .first()
      .locator('.tok.fired')
      .evaluateAll((els) =>
        els.map((e) => ({ v: Number(e.getAttribute('data-value')), a: Number((e as HTMLElement).style.getPropertyValue('--a')) })),
      )
    const top = Math.max(...opened.top[0]!.values)
    for (const s of shading) expect(s.a).toBeCloseTo(s.v / top, 5)

    // The histogram: one bar per bin, the bars' counts add up to the unit's firings.
    const bars = page.locator('[data-testid="histogram"] rect')
    await expect.poll(() => bars.count()).toBe(opened.histogram.length)
    const counts = await bars.evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('data-count'))))
    expect(counts.reduce((a, b) => a + b, 0)).toBe(pick.count)
    expect(await page.getByTestId('unit-steer').getAttribute('href')).toBe(`#/playground?layer=${layerRunId}&steer=${pick.unit}:100`)
    // The ablation table: one row per top context with a next token, as features.ablate gives it.
    const ablation = await client.call('features.ablate', { runId: indexRunId, unit: pick.unit })
    expect(ablation.contexts.length).toBeGreaterThan(0)
    await expect.poll(() => page.locator('[data-testid="ablation"] tbody tr').count(), { timeout: 60_000 }).toBe(ablation.contexts.length)
    expect(await page.getByTestId('ablation-error').count()).toBe(0)
    await app.shot('fu-unit')
  })

  it('saves a label, shown in the list and found by label search', async () => {
    const { page } = app
    const unit = opened.stats.unit
    await page.getByTestId('label-input').fill('Sample label ⟨cats⟩')
    await page.getByTestId('notes-input').fill('Fires on the first words of a verse.')
    await page.getByTestId('label-save').click()
    await page.getByTestId('label-saved').waitFor()
    await expect.poll(() => page.getByTestId('unit-label').innerText()).toBe('Sample label ⟨cats⟩')
    const labels = await client.call('features.listLabels', { runId: indexRunId })
    expect(labels.labels).toMatchObject([{ unit, label: 'Sample label ⟨cats⟩', notes: 'Fires on the first words of a verse.' }])

    // The list's label filter (done by features.list) keeps only that unit, its label in its row.
    await page.goto(`${app.web.url}#/features/${indexRunId}`)
    await page.getByTestId('filter-label').fill('sample LABEL')
    await page.getByTestId('filter-apply').click()
    const rows = page.locator('[data-testid="unit-table"] tbody tr')
    await expect.poll(() => rows.evaluateAll((rs) => rs.map((r) => r.getAttribute('data-unit')))).toEqual([String(unit)])
    expect(await rows.first().innerText()).toContain('Sample label ⟨cats⟩')

    await page.goto(`${app.web.url}#/features/search?run=${indexRunId}`)
    await page.getByRole('heading', { name: 'Search units' }).waitFor()
    await page.getByTestId('search-label-input').fill('SAMPLE')
    await page.getByTestId('search-label-go').click()
    const row = page.locator('[data-testid="search-label-results"] tbody tr')
    await expect.poll(() => row.count()).toBe(1)
    expect(await row.first().innerText()).toContain(`#${unit}`)
  })

  it('searches by token and by text', async () => {
    const { page } = app
    const c = opened.top[0]!
    const token = c.tokens![c.position]!
    const expected = await client.call('features.listByToken', { runId: indexRunId, token })
    await page.getByTestId('search-token-input').fill(token)
    await page.getByTestId('search-token-go').click()
    const tables = page.locator('[data-testid="search-token-units"]')
    await expect.poll(() => tables.count()).toBe(expected.matches.length)
    const links = await tables.first().locator('tbody a').allInnerTexts()
    expect(links).toEqual(expected.matches[0]!.units.map((u) => `#${u.unit}`))

    await page.getByTestId('search-text-input').fill('And God said, Let there be light: and there was light.')
    await page.getByTestId('search-text-go').click()
    // One chip per token features.search reads (BOS first), no error.
    const read = await client.call('features.search', { runId: indexRunId, text: 'And God said, Let there be light: and there was light.' })
    await page.getByTestId('search-tokens').waitFor({ timeout: 60_000 })
    await expect.poll(() => page.locator('[data-testid="search-tokens"] > *').count()).toBe(read.tokens.length)
    expect(await page.getByTestId('search-text-error').count()).toBe(0)
    await app.shot('fu-search')
    await page.emulateMedia({ colorScheme: 'dark' })
    await page.goto(`${app.web.url}#/features/${indexRunId}/units/${opened.stats.unit}`)
    await page.locator('[data-testid="top-contexts"] [data-testid="context"]').first().waitFor()
    await app.shot('fu-unit-dark')
    expect(app.pageErrors).toEqual([])
  })

  it('steers with the unit from its page: the Playground opens with the layer spliced, original and steered side by side', async () => {
    const { page } = app
    const unit = opened.stats.unit
    await page.emulateMedia({ colorScheme: 'light' })
    await page.goto(`${app.web.url}#/features/${indexRunId}/units/${unit}`)
    await page.getByTestId('unit-steer').click()
    await expect
      .poll(() => page.getByTestId('pg-layer').locator('option:checked').textContent(), { timeout: 60_000 })
      .toContain(`Run #${layerRunId}`)
    await expect.poll(() => page.getByTestId('pg-steer-unit').first().inputValue()).toBe(String(unit))
    expect(await page.getByTestId('pg-steer-value').first().inputValue()).toBe('100')
    await page.getByTestId('pg-prompt').fill('And the')
    await page.getByTestId('pg-max-tokens').fill('8')
    await page.getByTestId('pg-temperature').fill('1')
    await page.getByTestId('pg-seed-random').uncheck()
    await page.getByTestId('pg-seed').fill('1')
    await page.getByTestId('pg-samples').fill('2')
    await page.getByTestId('pg-compare-run').click()
    await expect.poll(() => page.getByTestId('pg-steered').count()).toBe(2)
    await expect
      .poll(async () => (await page.getByTestId('pg-compare-columns').textContent())!.includes('…'), { timeout: 120_000 })
      .toBe(false)
    expect(await page.getByTestId('pg-compare-steers').textContent()).toContain(`${unit} +100`)
    expect(await page.getByTestId('pg-original').first().textContent()).toContain('seed 1')
    await page.getByTestId('pg-compare-columns').scrollIntoViewIfNeeded()
    await app.shot('fu-steer-side-by-side')
  }, 200_000)

  it('probes the layer from its unit list and shows the probing table', async () => {
    const { page } = app
    await page.goto(`${app.web.url}#/features/${indexRunId}`)
    await page.getByTestId('open-probe').click()
    await page.getByRole('heading', { name: 'Sparse probing', level: 1 }).waitFor()
    await expect.poll(() => page.getByTestId(`probe-layer-${layerRunId}`).locator('input').isChecked()).toBe(true)
    await page.locator('#probe-task').selectOption('other')
    await page.getByTestId('probe-path').fill(taskFile)
    await page.getByTestId('probe-start').click()
    const row = page.locator('[data-testid="probe-table"] tbody tr')
    await expect.poll(() => row.count(), { timeout: 60_000 }).toBe(1)
    const state = await waitFor(
      'the probe run',
      async () => {
        const l = await client.call('probe.list', {})
        const r = l.runs[0]
        if (r && (r.status === 'failed' || r.status === 'cancelled')) throw new Error(`probe run ${r.runId} ${r.status}: ${r.error}`)
        return r?.status === 'succeeded' ? r : undefined
      },
      { timeoutMs: 180_000, intervalMs: 250 },
    )
    expect(state.layerRunId).toBe(layerRunId)
    await expect.poll(() => page.getByTestId(`probe-row-${state.runId}`).locator('td').nth(7).textContent()).toBe(state.meanF1!.toFixed(3))
    await app.shot('fu-probe-table')
    expect(app.pageErrors).toEqual([])
  }, 200_000)
})
