/// <reference lib="dom" />
// The μMoE Experts page end to end in web mode: real `mxd web` on a temp store, the built renderer
// in Debian's Chromium. Pre-trains a tiny two-layer CPμMoE GPT-2 through the API (a few seconds),
// finds it on the Models page, opens its Experts page from the model page, runs the analysis from
// the UI, and checks the summary, the expert list with its top-token chips, an expert's top
// contexts with the token highlighted, the layer selector and the dark theme.
// Screenshots land in test-results/screenshots/ex-*.png.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ExpertAnalysis } from '../../src/shared/experts.js'
import { launchChromium } from '../helpers/chromium.js'
import { waitFor } from '../helpers/wait.js'
import { repoRoot, startWebProcess, type WebProcess } from '../helpers/web-process.js'

const SHOTS = join(repoRoot, 'test-results/screenshots')
const TINY = { layers: 2, dModel: 32, heads: 2, ctx: 32, vocab: 320, experts: 4, tokens: 6_144, batch: 8 }
const ANALYSIS_TOKENS = 2048

let web: WebProcess
let browser: Browser
let context: BrowserContext
let page: Page
const pageErrors: string[] = []
const cleanup: string[] = []
let modelDir = ''
let modelId = 0
let analysis: ExpertAnalysis

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
}

/** Verses of the bundled KJV corpus, four to a blank-line-separated document. */
function smallText(): string {
  const lines = readFileSync(join(repoRoot, 'resources/corpus/kjv/train.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(0, 1200)
  const docs: string[] = []
  for (let i = 0; i < lines.length; i += 4) docs.push(lines.slice(i, i + 4).join('\n'))
  return docs.join('\n\n') + '\n'
}

/** The expert with the most gate mass among those with top contexts. */
function heaviest(experts: ExpertAnalysis['layers'][number]['experts']): number {
  let best = -1
  for (const [i, x] of experts.entries()) if (x.topContexts.length > 0 && (best < 0 || x.massShare > experts[best]!.massShare)) best = i
  return best
}

const expertRows = (): ReturnType<Page['locator']> => page.locator('[data-testid="expert-table"] tbody tr.expert')

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true })
  const dir = mkdtempSync(join(tmpdir(), 'mxd-ex-ui-'))
  cleanup.push(dir)
  const textFile = join(dir, 'verses.txt')
  writeFileSync(textFile, smallText())
  web = await startWebProcess()
  cleanup.push(web.store)

  // The tiny CPμMoE model, pre-trained by the web process itself.
  modelDir = join(dir, 'tiny-cpmoe')
  const client = await web.client()
  const { runId } = await client.call('pretrain.start', {
    data: textFile,
    out: modelDir,
    layers: TINY.layers,
    dModel: TINY.dModel,
    heads: TINY.heads,
    ctx: TINY.ctx,
    vocabSize: TINY.vocab,
    mlp: 'cpmoe',
    experts: TINY.experts,
    tokens: TINY.tokens,
    batch: TINY.batch,
    lr: 0.003,
    evalEvery: 1000,
    checkpointEvery: 1000,
  })
  await waitFor(`pretrain run ${runId}`, async () => {
    const detail = await client.call('runs.get', { id: runId })
    if (detail.run.status === 'succeeded') return true
    if (!['queued', 'running'].includes(detail.run.status)) {
      throw new Error(`pretrain run ${runId} ${detail.run.status}: ${detail.run.error ?? ''}\n${web.stderr()}`)
    }
    return undefined
  }, { intervalMs: 200 })
  client.close()

  browser = await launchChromium()
  context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' })
  page = await context.newPage()
  page.setDefaultTimeout(60_000)
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`)
  })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await web?.stop()
  for (const d of cleanup) rmSync(d, { recursive: true, force: true })
})

describe('μMoE Experts page in web mode', () => {
  it('finds the pre-trained model on the Models page and opens its Experts page', async () => {
    await page.goto(web.url)
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: /Models/ })
      .click()
    await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor()
    const client = await web.client()
    const list = await client.call('models.list', {})
    client.close()
    const entry = list.find((m) => m.path === modelDir)
    expect(entry, JSON.stringify(list.map((m) => m.path))).toBeDefined()
    modelId = entry!.id
    const row = page.locator(`tr[data-model-id="${modelId}"]`)
    await row.waitFor()
    await row.focus()
    await page.keyboard.press('Enter')
    await page.waitForURL(new RegExp(`#/models/${modelId}$`))
    const link = page.getByTestId('open-experts')
    await expect.poll(() => link.textContent()).toBe(`Experts (${TINY.experts})`)
    await link.click()
    await page.waitForURL(new RegExp(`#/models/${modelId}/experts$`))
    await page.getByRole('heading', { name: 'Experts', level: 1 }).waitFor()
    await page.getByText(`${TINY.experts} experts per layer · CPμMoE`).waitFor()
    await page.getByText('No analysis yet.').waitFor()
    await expect.poll(() => page.getByTestId('analyze').textContent()).toMatch(/^\s*Analyze\s*$/)
    await shot('ex-01-empty')
  })

  it('runs the analysis from the UI and shows the summary and the expert list with top-token chips', async () => {
    await page.getByTestId('analyze-tokens').fill(String(ANALYSIS_TOKENS))
    await page.getByTestId('analyze').click()
    // The run may finish before the pending card is seen; when it is seen, it is photographed.
    await page.locator('[data-testid="experts-pending"], [data-testid="expert-table"]').first().waitFor({ timeout: 90_000 })
    if (await page.getByTestId('experts-pending').isVisible()) await shot('ex-02a-pending').catch(() => {})
    await page.getByTestId('expert-table').waitFor({ timeout: 90_000 })
    await expect.poll(() => page.getByTestId('analyze').textContent()).toMatch(/Analyze again/)
    await expect.poll(() => page.getByTestId('analyze').isDisabled()).toBe(false)

    const client = await web.client()
    const state = await client.call('experts.list', { modelId })
    expect(state.runs).toHaveLength(1)
    expect(state.runs[0]!.status).toBe('succeeded')
    const result = await client.call('experts.get', { runId: state.runs[0]!.id })
    client.close()
    analysis = result.analysis!
    expect(analysis.nLayers).toBe(TINY.layers)
    expect(analysis.nExperts).toBe(TINY.experts)

    // The summary: the back end's numbers, all layers together.
    const summary = page.getByTestId('experts-summary')
    const s = analysis.summary
    await summary.getByText('Active experts').waitFor()
    await expect.poll(() => summary.locator('.fact', { hasText: 'Active experts' }).locator('dd').textContent()).toBe(
      `${s.active} of ${s.experts}`,
    )
    await summary.getByText('Specialised', { exact: true }).waitFor()
    await summary.getByText('Class entropy').waitFor()
    await expect.poll(() => page.getByTestId('experts-lead').textContent()).toContain(
      `${analysis.text.tokens.toLocaleString('en-US')} held-out tokens`,
    )

    // One row per expert of layer 0, each with top-token chips.
    await expect.poll(() => expertRows().count()).toBe(TINY.experts)
    const layer0 = analysis.layers[0]!
    for (const [i, x] of layer0.experts.entries()) {
      const r = expertRows().nth(i)
      await expect.poll(() => r.locator('td').first().textContent()).toBe(String(x.expert))
      const chips = r.getByTestId('token-chip')
      await expect.poll(() => chips.count()).toBe(Math.min(8, x.topTokens.length))
    }
    expect(layer0.experts.some((x) => x.topTokens.length > 0)).toBe(true)
    await shot('ex-02-summary-list')
  })

  it('a click on an expert shows its top contexts with the token highlighted', async () => {
    const layer0 = analysis.layers[0]!
    const i = heaviest(layer0.experts)
    expect(i).toBeGreaterThanOrEqual(0)
    const x = layer0.experts[i]!
    const row = expertRows().nth(i)
    await expect.poll(() => row.getAttribute('aria-expanded')).toBe('false')
    await row.click()
    await expect.poll(() => row.getAttribute('aria-expanded')).toBe('true')
    const contexts = page.getByTestId('expert-contexts')
    await contexts.waitFor()
    await expect.poll(() => contexts.locator('li').count()).toBe(x.topContexts.length)
    const marks = await contexts.locator('li mark').allTextContents()
    const first = x.topContexts[0]!
    // One line per context: line breaks and tabs shown as ↵ and ⇥.
    const inline = (t: string): string => t.replaceAll('\n', '↵').replaceAll('\t', '⇥')
    expect(marks).toEqual(x.topContexts.map((c) => inline(c.token)))
    await expect.poll(() => contexts.locator('li').first().locator('.ctx').textContent()).toBe(
      inline(first.before.join('') + first.token + first.after.join('')),
    )
    const heights = await contexts.locator('li').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height))
    expect(Math.max(...heights)).toBeLessThan(2 * Math.min(...heights))
    await page.getByTestId('expert-detail').getByText('Token classes').waitFor()
    await shot('ex-03-expert-open')
    // A second click closes it.
    await row.click()
    await expect.poll(() => contexts.count()).toBe(0)
    await row.click()
    await contexts.waitFor()
  })

  it('the layer selector switches to the other layer’s experts', async () => {
    const radios = page.getByRole('radiogroup', { name: 'Layer' }).getByRole('radio')
    await expect.poll(() => radios.count()).toBe(TINY.layers)
    await expect.poll(() => radios.nth(0).getAttribute('aria-checked')).toBe('true')
    const layer1 = analysis.layers[1]!
    await radios.nth(1).click()
    await expect.poll(() => radios.nth(1).getAttribute('aria-checked')).toBe('true')
    await expect.poll(() => radios.nth(0).getAttribute('aria-checked')).toBe('false')
    // The open row closes, and the rows are layer 1's.
    await expect.poll(() => page.getByTestId('expert-contexts').count()).toBe(0)
    await expect.poll(() => expertRows().count()).toBe(TINY.experts)
    const shown = await expertRows().nth(0).getByTestId('token-chip').locator('.mono').allTextContents()
    const visible = (t: string): string => t.replaceAll(' ', '·').replaceAll('\n', '↵').replaceAll('\t', '⇥') || '∅'
    expect(shown).toEqual(layer1.experts[0]!.topTokens.slice(0, 8).map((t) => visible(t.text)))
    const lineText = await page.getByTestId('layer-summary').textContent()
    expect(lineText?.replace(/\s+/g, ' ')).toContain(`${layer1.summary.active}/${layer1.summary.experts} active`)
    await radios.nth(0).click()
    await expect.poll(() => radios.nth(0).getAttribute('aria-checked')).toBe('true')
    // The keyboard, as with native radio buttons: an arrow key moves the choice and the focus.
    await page.keyboard.press('ArrowRight')
    await expect.poll(() => radios.nth(1).getAttribute('aria-checked')).toBe('true')
    await expect.poll(() => radios.nth(1).evaluate((el) => el === document.activeElement)).toBe(true)
    await page.keyboard.press('ArrowLeft')
    await expect.poll(() => radios.nth(0).getAttribute('aria-checked')).toBe('true')
  })

  it('works in the dark theme', async () => {
    await page.getByTestId('theme-toggle').click()
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
    const layer0 = analysis.layers[0]!
    const i = heaviest(layer0.experts)
    await expertRows().nth(i).click()
    await page.getByTestId('expert-contexts').waitFor()
    await shot('ex-04-dark')
    await page.getByTestId('theme-toggle').click()
    expect(pageErrors).toEqual([])
  })
})
