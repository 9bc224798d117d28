/// <reference lib="dom" />
// The first run as a new user sees it, end to end on a real `mxd web` and Chromium: the start
// page with the demo model and its steps, the Runs list that tells runs apart (model, block, kind,
// K, held-out NMSE) and filters them, importing a layer folder from the UI, deleting a run with
// its files, and the frontier's CE chart with its reference lines and distinct ticks. The store
// is filled first with two small conversions of the demo model through the `mxd` command line.
import { existsSync, mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openApp, type AppPage } from '../helpers/app-page.js'
import { mxd } from '../helpers/mxd-cli.js'
import { repoRoot, tempStore, type WebProcess } from '../helpers/web-process.js'

const MODEL = join(repoRoot, 'resources/models/kjv-gpt2-mini')
const CORPUS = join(repoRoot, 'resources/corpus/kjv')
const LAYER = 2

let app: AppPage
let web: WebProcess
let page: Page
let store: string
const exportDir = join(mkdtempSync(join(tmpdir(), 'mxd-ui-export-')), 'kjv-block2-mxd')
const runIds: Record<'mxd' | 'transcoder', number> = { mxd: 0, transcoder: 0 }
let modelId = 0
let importedRunId = 0

async function train(kind: 'mxd' | 'transcoder'): Promise<number> {
  const r = await mxd([
    'train',
    '--model',
    MODEL,
    '--layer',
    String(LAYER),
    '--data',
    CORPUS,
    '--kind',
    kind,
    '--k',
    '4',
    '--tokens',
    '2048',
    '--eval-tokens',
    '1024',
    '--store',
    store,
    '--json',
  ])
  expect(r.code, r.stderr).toBe(0)
  const last = r.stdout.trim().split('\n').at(-1)!
  return (JSON.parse(last) as { run: { id: number } }).run.id
}

beforeAll(async () => {
  store = tempStore('mxd-ui-first-')
  runIds.mxd = await train('mxd')
  runIds.transcoder = await train('transcoder')
  const ex = await mxd(['export', '--run', String(runIds.mxd), '--out', exportDir, '--store', store])
  expect(ex.code, ex.stderr).toBe(0)
  app = await openApp({ store, viewport: { width: 1280, height: 860 }, cleanup: [store, join(exportDir, '..')] })
  ;({ web, page } = app)
  const client = await web.client()
  modelId = (await client.call('models.list', {})).find((m) => m.source === 'bundled')!.id
  client.close()
}, 600_000)

afterAll(async () => {
  await app?.close()
})

describe('the first run, as a new user sees it', () => {
  it('opens on a start page that tells the story on the demo model', async () => {
    await page.goto(web.url)
    await page.getByRole('heading', { name: 'Welcome to MxD Studio', level: 1 }).waitFor()
    const demo = page.getByTestId('demo-model')
    await demo.getByRole('link', { name: 'kjv-gpt2-mini' }).waitFor()
    await expect.poll(() => page.getByTestId('step-convert').getAttribute('href')).toBe(`#/convert?model=${modelId}&layer=${LAYER}`)
    // The newest conversion of the demo model is the one to watch; the Playground gets the newest finished layer.
    await expect.poll(() => page.getByTestId('step-run').getAttribute('href')).toBe(`#/runs/${runIds.transcoder}`)
    await expect
      .poll(() => page.getByTestId('step-frontier').getAttribute('href'))
      .toBe(`#/convert/frontier?model=${modelId}&layer=${LAYER}`)
    await expect
      .poll(() => page.getByTestId('step-playground').getAttribute('href'))
      .toBe(`#/playground?model=${modelId}&layer=${runIds.transcoder}`)
    await expect.poll(() => page.getByTestId('step-privacy').getAttribute('href')).toBe('#/privacy')
    await page.getByTestId('recent-runs').locator(`a[data-run-id="${runIds.mxd}"]`).waitFor()
    await page.getByTestId('home-models').getByRole('link', { name: 'kjv-gpt2-mini' }).waitFor()
    await expect(
      page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Start/ }).getAttribute('class'),
    ).resolves.toContain('active')
    await app.shot('ui-01-start-page')
  })

  it('lists runs with their model, block, kind, K and held-out NMSE, and filters them', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Runs/ }).click()
    await page.getByRole('heading', { name: 'Runs', level: 1 }).waitFor()
    const row = page.locator(`tr[data-run-id="${runIds.mxd}"]`)
    await expect.poll(() => row.locator('[data-col="model"]').textContent()).toBe('kjv-gpt2-mini')
    await expect(row.locator('[data-col="layer"]').textContent()).resolves.toBe(String(LAYER))
    await expect(row.locator('[data-col="kind"]').textContent()).resolves.toBe('MxD')
    await expect(row.locator('[data-col="k"]').textContent()).resolves.toBe('4')
    expect(Number(await row.locator('[data-col="nmse"]').textContent())).toBeGreaterThan(0)
    await expect(page.locator(`tr[data-run-id="${runIds.transcoder}"] [data-col="kind"]`).textContent()).resolves.toBe('TopK transcoder')
    await app.shot('ui-02-runs-list')

    await page.getByTestId('filter-kind').selectOption('transcoder')
    await row.waitFor({ state: 'detached' })
    await page.locator(`tr[data-run-id="${runIds.transcoder}"]`).waitFor()
    await page.getByText(/\d+ of \d+ shown/).waitFor()
    await page.getByTestId('filter-kind').selectOption('')
    await row.waitFor()
  })

  it('imports a layer folder from the dialog, with clear errors and a link to the new run', async () => {
    await page.getByTestId('open-import').click()
    const dialog = page.getByRole('dialog', { name: 'Import a layer' })
    await dialog.getByText('SAELens-style TopK transcoder').waitFor()
    await dialog.getByTestId('import-dir').fill('relative/folder')
    await dialog.getByTestId('confirm-ok').click()
    await dialog.getByText('Give the folder as an absolute path').waitFor()
    await dialog.getByTestId('import-dir').fill('/no/such/layer')
    await dialog.getByTestId('import-dir').press('Enter')
    // The back end's own message, naming the folder.
    await dialog.getByText(/\/no\/such\/layer is not a folder/).waitFor()
    await expect(dialog.getByTestId('import-dir').getAttribute('aria-invalid')).resolves.toBe('true')
    await app.shot('ui-03-import-error')

    await dialog.getByTestId('import-dir').fill(exportDir)
    await dialog.getByTestId('confirm-ok').click()
    const link = dialog.getByTestId('import-run-link')
    await link.waitFor()
    importedRunId = Number(/run (\d+)/.exec((await link.textContent())!)![1])
    expect(importedRunId).toBeGreaterThan(runIds.transcoder)
    await dialog.getByText(/Imported an MxD layer for block 2/).waitFor()
    await app.shot('ui-04-import-done')
    await link.click()
    await page.waitForURL(new RegExp(`#/runs/${importedRunId}$`))
    await expect(page.getByRole('dialog', { name: 'Import a layer' }).isVisible()).resolves.toBe(false)
  })

  it('deletes a run and its files after a confirmation, and keeps the folder it came from', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Runs/ }).click()
    const row = page.locator(`tr[data-run-id="${importedRunId}"]`)
    await row.waitFor()
    const runDir = join(store, 'runs', String(importedRunId))
    expect(existsSync(runDir)).toBe(true)
    // Cancel first: nothing happens.
    await row.getByTestId('delete-run').click()
    const dialog = page.getByRole('dialog', { name: `Delete run ${importedRunId}?` })
    await dialog.getByText('cannot be undone').waitFor()
    await app.shot('ui-05-delete-confirm')
    await dialog.getByTestId('confirm-cancel').click()
    await dialog.waitFor({ state: 'hidden' })
    expect(existsSync(runDir)).toBe(true)

    await row.getByTestId('delete-run').click()
    await dialog.getByTestId('confirm-ok').click()
    await row.waitFor({ state: 'detached' })
    await expect.poll(() => existsSync(runDir)).toBe(false)
    expect(readdirSync(exportDir).sort()).toEqual(['cfg.json', 'sae_weights.safetensors'])
    expect(existsSync(join(store, 'runs', String(runIds.mxd), 'layer'))).toBe(true)
    const client = await web.client()
    await expect(client.call('runs.get', { id: importedRunId })).rejects.toThrow(/There is no run/)
    client.close()
  })

  it('draws the frontier’s CE chart with the clean and zero-ablated references and distinct ticks', async () => {
    await page.evaluate(([m, l]) => (location.hash = `#/convert/frontier?model=${m}&layer=${l}`), [modelId, LAYER])
    const ce = page.getByTestId('frontier-ce')
    await ce.locator(`circle[data-point-id="${runIds.mxd}"]`).waitFor()
    await ce.locator('[data-reference="unchanged model"]').waitFor()
    await ce.locator('[data-reference="MLP zeroed"]').waitFor()
    const yTicks = await ce.locator('g.axis > g text[text-anchor="end"]').allTextContents()
    expect(yTicks.length).toBeGreaterThanOrEqual(3)
    expect(new Set(yTicks).size).toBe(yTicks.length)
    // The axis spans at least 0.02 nats, whatever the data.
    const values = yTicks.map(Number)
    expect(Math.max(...values) - Math.min(...values)).toBeGreaterThanOrEqual(0.02 - 1e-9)
    await app.shot('ui-06-frontier')
    expect(app.pageErrors).toEqual([])
  })

  it('a conversion’s page names N, the dataset and both dead fractions, and links to the Playground', async () => {
    await page.evaluate((id) => (location.hash = `#/runs/${id}`), runIds.mxd)
    const panel = page.getByTestId('convert-panel')
    // N parameter-matched to a 32× transcoder: round((32·192·384 − 768·384) / 385) = 5,362.
    await panel.getByText('5,362 (default)').waitFor()
    await panel.locator('dd', { hasText: /^kjv$/ }).waitFor()
    await panel
      .getByTestId('dead-note')
      .getByText(/training/)
      .waitFor()
    await expect
      .poll(() => panel.getByTestId('open-playground').getAttribute('href'))
      .toBe(`#/playground?model=${modelId}&layer=${runIds.mxd}`)
    await app.shot('ui-07-convert-run')
  })

  it('asks before an export replaces a folder, and shows the back end’s refusal', async () => {
    await page.getByTestId('export-open').click()
    await page.getByTestId('export-dir').fill(exportDir)
    await page.getByTestId('export-go').click()
    await expect.poll(() => page.locator('#export-e').textContent()).toContain(exportDir)
    await page.getByTestId('export-force').check()
    await page.getByTestId('export-go').click()
    const dialog = page.getByRole('dialog', { name: `Replace ${exportDir}?` })
    await dialog.getByText('cannot be undone').waitFor()
    await app.shot('ui-08-export-replace')
    await dialog.getByTestId('confirm-cancel').click()
    await dialog.waitFor({ state: 'hidden' })
    await expect(page.getByTestId('export-done').count()).resolves.toBe(0)
    await page.getByTestId('export-go').click()
    await dialog.getByTestId('confirm-ok').click()
    await page.getByTestId('export-done').waitFor()
  })

  it('an evaluation’s page is a labelled table, not one-point charts of raw keys', async () => {
    await page.evaluate((id) => (location.hash = `#/runs/${id}`), runIds.mxd + 1)
    const table = page.getByTestId('eval-table')
    await table.locator('tr[data-metric="eval.ce_clean"] th', { hasText: 'CE clean' }).waitFor()
    await page.getByTestId('evaluated-run').waitFor()
    await expect(page.getByText('eval.ce_clean').count()).resolves.toBe(0)
    await expect(page.locator('[data-metric] svg').count()).resolves.toBe(0)
    await app.shot('ui-09-eval-run')
  })

  it('the model page shows which blocks are converted', async () => {
    await page.evaluate((id) => (location.hash = `#/models/${id}`), modelId)
    const cell = page.getByTestId('layer-table').locator(`tr[data-layer="${LAYER}"] [data-col="converted"]`)
    await cell.locator(`a[href="#/runs/${runIds.mxd}"]`, { hasText: 'MxD K 4' }).waitFor()
    await cell.locator(`a[href="#/runs/${runIds.transcoder}"]`).waitFor()
    await expect(page.getByTestId('layer-table').locator('tr[data-layer="0"] [data-col="converted"]').textContent()).resolves.toContain('—')
    await app.shot('ui-10-model-page')
    // The model page can import a layer too: the same dialog.
    await page.getByTestId('open-import').click()
    const dialog = page.getByRole('dialog', { name: 'Import a layer' })
    await dialog.getByTestId('import-dir').waitFor()
    await dialog.getByTestId('confirm-cancel').click()
    await dialog.waitFor({ state: 'hidden' })
  })

  it('the Playground takes the layer from the link, suits the prompt to the model, bounds max tokens and keeps what is typed', async () => {
    await page.evaluate(([m, r]) => (location.hash = `#/playground?model=${m}&layer=${r}`), [modelId, runIds.mxd])
    await expect.poll(() => page.getByTestId('pg-layer').inputValue()).toBe(String(runIds.mxd))
    await expect.poll(() => page.getByTestId('pg-prompt').inputValue()).toBe('In the beginning')
    await page.getByTestId('pg-max-tokens').fill('500')
    await page.getByTestId('pg-generate').click()
    await page.getByText('Max tokens must be at most 127.').waitFor()
    await page.getByTestId('pg-max-tokens').fill('4')
    await page.getByTestId('pg-prompt').fill('And God said')
    // Leave and come back: what was typed (and not generated yet) is still there.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Runs/ }).click()
    await page.getByRole('heading', { name: 'Runs', level: 1 }).waitFor()
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: /Playground/ })
      .click()
    await expect.poll(() => page.getByTestId('pg-prompt').inputValue()).toBe('And God said')
    await expect(page.getByTestId('pg-max-tokens').inputValue()).resolves.toBe('4')
    await page.getByTestId('pg-generate').click()
    const reason = page.getByTestId('pg-stop-reason')
    await reason.waitFor()
    await expect(reason.textContent()).resolves.toMatch(/^\s*Stopped: reached the max tokens limit\.\s*$/)
    await app.shot('ui-11-playground')
    expect(app.pageErrors).toEqual([])
  })
})
