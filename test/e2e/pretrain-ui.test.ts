/// <reference lib="dom" />
// The Pre-train wizard end to end in web mode: real `mxd web` on a temp store, the built renderer
// in Debian's Chromium. Registers a small text file through the wizard (after a refused path),
// sizes a tiny GPT-2 (after a refused head count), checks the μMoE choices show the
// parameter-matched rank, starts a tiny dense run, checks its loss chart fills in live (without a
// reload), waits for it to finish (held-out loss, links to the model), and finds the model on the
// Models page; then the dark theme. Screenshots land in test-results/screenshots/pt-*.png.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { denseMlpParamCount, matchedCpRank, matchedTrRanks } from '../../src/engine/layers/mumoe.js'
import { openApp, type AppPage } from '../helpers/app-page.js'
import { repoRoot, type WebProcess } from '../helpers/web-process.js'

const TINY = { layers: 1, dModel: 32, heads: 2, ctx: 32, vocab: 512, tokens: 24_000, batch: 8 }

let app: AppPage
let web: WebProcess
let page: Page
const cleanup: string[] = []
let textFile = ''
let runId = 0

const shot = (name: string): Promise<void> => app.shot(name)

/** Verses of the bundled KJV corpus, four to a blank-line-separated document: a few hundred documents. */
function smallText(): string {
  const lines = readFileSync(join(repoRoot, 'resources/corpus/kjv/train.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(0, 1600)
  const docs: string[] = []
  for (let i = 0; i < lines.length; i += 4) docs.push(lines.slice(i, i + 4).join('\n'))
  return docs.join('\n\n') + '\n'
}

const next = (): Promise<void> => page.getByTestId('pt-next').click()
const currentStep = (): Promise<string | null> => page.locator('form[data-step]').getAttribute('data-step')

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mxd-pt-ui-'))
  cleanup.push(dir)
  textFile = join(dir, 'verses.txt')
  writeFileSync(textFile, smallText())
  app = await openApp({ cleanup })
  ;({ web, page } = app)
  cleanup.push(web.store)
})

afterAll(async () => {
  await app?.close()
})

describe('Pre-train wizard in web mode', () => {
  it('opens from the sidebar on the data step and asks for a dataset', async () => {
    await page.goto(web.url)
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Pre-train/ }).click()
    await page.getByRole('heading', { name: 'Pre-train', level: 1 }).waitFor()
    await page.getByTestId('pt-use-bundled').waitFor()
    await next()
    await page.getByTestId('step-error').getByText('Pick a dataset, or add one from a file path.').waitFor()
    await expect.poll(() => currentStep()).toBe('data')
    await shot('pt-01-data-empty')
  })

  it('refuses a missing file with the back end’s message, then registers the text file', async () => {
    const input = page.getByTestId('pt-dataset-path')
    await input.fill('/no/such/text.txt')
    await page.getByTestId('pt-dataset-add').click()
    await page.getByTestId('pt-dataset-error').getByText(/no\/such\/text\.txt/).waitFor()
    await expect.poll(() => input.getAttribute('aria-invalid')).toBe('true')
    await input.fill(textFile)
    await input.press('Enter')
    const row = page.getByTestId('pt-dataset-row').filter({ hasText: 'verses' })
    await row.waitFor()
    await expect.poll(() => row.locator('input[type=radio]').isChecked()).toBe(true)
    await expect.poll(() => page.getByTestId('pt-dataset-error').count()).toBe(0)
    await shot('pt-02-data-picked')
    await next()
    await expect.poll(() => currentStep()).toBe('size')
  })

  it('sizes the model, refusing heads that do not divide d_model, and counts its parameters', async () => {
    await page.getByTestId('pt-layers').fill(String(TINY.layers))
    await page.getByTestId('pt-dmodel').fill(String(TINY.dModel))
    await page.getByTestId('pt-heads').fill('3')
    await page.getByTestId('pt-ctx').fill(String(TINY.ctx))
    await page.getByTestId('pt-vocab').fill(String(TINY.vocab))
    await next()
    await page.getByTestId('step-error').getByText('d_model (32) must be a multiple of the number of heads.').waitFor()
    await expect.poll(() => currentStep()).toBe('size')
    await shot('pt-03-size-error')
    await page.getByTestId('pt-heads').fill(String(TINY.heads))
    const { dModel: d, layers: L, ctx, vocab } = TINY
    const expected = vocab * d + ctx * d + L * (4 * d * d + 4 * d) + L * denseMlpParamCount({ dModel: d, hidden: 4 * d }) + L * 4 * d + 2 * d
    await expect.poll(() => page.getByTestId('pt-params-total').textContent()).toBe(expected.toLocaleString('en-US'))
    await page.getByTestId('pt-params-line').getByText(expected.toLocaleString('en-US')).waitFor()
    await shot('pt-04-size')
    await next()
    await expect.poll(() => currentStep()).toBe('mlp')
  })

  it('shows the parameter-matched rank for CPμMoE and TRμMoE, then goes back to dense', async () => {
    const dims = { dModel: TINY.dModel, hidden: 4 * TINY.dModel }
    await page.getByTestId('pt-mlp-cpmoe').check()
    await page.getByTestId('pt-experts').fill('8')
    const cp = matchedCpRank(dims, 8)
    await expect.poll(() => page.getByTestId('pt-matched-rank').textContent()).toBe(`R = ${cp}`)
    await expect.poll(() => page.getByTestId('pt-rank').getAttribute('placeholder')).toBe(`${cp} (matched)`)
    await page.getByTestId('pt-matched').getByText(denseMlpParamCount(dims).toLocaleString('en-US')).waitFor()
    await shot('pt-05-mlp-cpmoe')
    await page.getByTestId('pt-mlp-trmoe').check()
    const tr = matchedTrRanks(dims, 8)
    await expect.poll(() => page.getByTestId('pt-matched-rank').textContent()).toBe(`(${tr.r1}, ${tr.r2}, ${tr.r3})`)
    await page.getByTestId('pt-experts').fill('1')
    await next()
    // The bound is PretrainConfig's (experts: min 2), read by the form's number parser.
    await page.getByTestId('step-error').getByText('The number of experts must be at least 2.').waitFor()
    await expect.poll(() => currentStep()).toBe('mlp')
    await page.getByTestId('pt-mlp-dense').check()
    await expect.poll(() => page.getByTestId('pt-matched').count()).toBe(0)
    await next()
    await expect.poll(() => currentStep()).toBe('budget')
  })

  it('sets a tiny budget and shows the steps and a time estimate', async () => {
    await page.getByTestId('pt-tokens').fill('100')
    await next()
    await page.getByTestId('step-error').getByText(/Less than one step/).waitFor()
    await page.getByTestId('pt-tokens').fill(String(TINY.tokens))
    await page.getByTestId('pt-batch').fill(String(TINY.batch))
    await page.getByTestId('pt-lr').fill('0.003')
    await page.getByTestId('pt-eval').fill('5')
    const steps = Math.ceil(TINY.tokens / (TINY.batch * TINY.ctx))
    await page.getByTestId('pt-budget-line').getByText(String(steps), { exact: true }).waitFor()
    await page.getByTestId('pt-budget-line').getByText(/about/).waitFor()
    await shot('pt-06-budget')
    await next()
    await expect.poll(() => currentStep()).toBe('output')
  })

  it('names the output folder, refusing a path', async () => {
    const out = page.getByTestId('pt-out')
    await out.fill('../escape')
    await next()
    await page.getByTestId('pt-out-error').getByText(/no slashes/).waitFor()
    await out.fill('tiny-e2e')
    await page.getByText(join(web.store, 'models', 'tiny-e2e')).waitFor()
    await shot('pt-07-output')
    await next()
    await expect.poll(() => currentStep()).toBe('review')
  })

  it('reviews and starts the run, landing on its live page', async () => {
    const review = page.getByTestId('pt-review')
    await review.getByText('verses').waitFor()
    await review.getByText(`${TINY.layers} layer × d_model ${TINY.dModel}, ${TINY.heads} heads, context ${TINY.ctx}, vocabulary ${TINY.vocab}`).waitFor()
    await expect.poll(() => page.getByTestId('pt-review-mlp').textContent()).toBe('Dense')
    await shot('pt-08-review')
    await page.getByTestId('pt-start').click()
    await page.waitForURL(/#\/runs\/\d+$/)
    runId = Number(/runs\/(\d+)$/.exec(page.url())![1])
    expect(runId).toBeGreaterThan(0)
    await page.getByTestId('pretrain-panel').waitFor()
  })

  it('the loss chart fills in live, without a reload', async () => {
    // How many points land while the run is still running depends on the back end's speed (a
    // fast one may finish between two renders), so this checks what holds at any speed: the count
    // never goes back, and the page, never reloaded since the run started, ends with every step's
    // point (the next test) — they all arrived live.
    await page.evaluate(() => {
      const w = window as unknown as { points: number[] }
      w.points = []
      const record = (): void => {
        const n = Number(document.querySelector('[data-testid="pt-loss-chart"]')?.getAttribute('data-points') ?? 0)
        if (w.points.at(-1) !== n) w.points.push(n)
      }
      record()
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true })
    })
    await shot('pt-09-live') // mid-run or already done: the back end's speed decides
    await page.getByTestId('pt-done').waitFor({ timeout: 120_000 })
    const points = await page.evaluate(() => (window as unknown as { points: number[] }).points)
    for (let i = 1; i < points.length; i++) expect(points[i]!, `point counts seen: ${points.join(' → ')}`).toBeGreaterThan(points[i - 1]!)
  })

  it('finishes with the held-out loss and links to the new model', async () => {
    await page.getByTestId('pt-done').waitFor({ timeout: 120_000 })
    await expect.poll(() => page.getByTestId('run-status').textContent()).toMatch(/succeeded/i)
    const heldout = Number(await page.getByTestId('pt-final-heldout').textContent())
    expect(heldout).toBeGreaterThan(0)
    expect(heldout).toBeLessThan(Math.log(TINY.vocab))
    const steps = Math.ceil(TINY.tokens / (TINY.batch * TINY.ctx))
    await expect.poll(async () => Number(await page.getByTestId('pt-loss-chart').getAttribute('data-points'))).toBe(steps)
    expect(Number(await page.getByTestId('pt-loss-chart').getAttribute('data-heldout-points'))).toBeGreaterThan(1)
    await page.getByRole('img', { name: /Training and held-out loss/ }).waitFor()
    await page.getByTestId('pt-model-link').waitFor()
    await page.getByTestId('pt-playground-link').waitFor()
    await shot('pt-10-finished')

    // The wizard's parameter count is the trainer's.
    const client = await web.client()
    const detail = await client.call('runs.get', { id: runId })
    const preview = await client.call('pretrain.preview', { layers: TINY.layers, dModel: TINY.dModel, heads: TINY.heads, ctx: TINY.ctx, vocabSize: TINY.vocab })
    client.close()
    const logged = detail.log.map((l) => /^([\d,]+) parameters/.exec(l.message)?.[1]).find(Boolean)
    expect(Number(logged?.replaceAll(',', ''))).toBe(preview.params.total)
  })

  it('the model is on the Models page (models.list registers it)', async () => {
    const out = join(web.store, 'models', 'tiny-e2e')
    const client = await web.client()
    const list = await client.call('models.list', {})
    client.close()
    const entry = list.find((m) => m.path === out)
    expect(entry, JSON.stringify(list.map((m) => m.path))).toBeDefined()
    expect(entry!.error).toBeNull()
    await page.getByTestId('pt-model-link').click()
    await page.waitForURL(new RegExp(`#/models/${entry!.id}$`))
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Models/ }).click()
    await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor()
    const row = page.locator(`tr[data-model-id="${entry!.id}"]`)
    await row.waitFor()
    await row.getByText(entry!.name).first().waitFor()
    await shot('pt-11-models')
  })

  it('works in the dark theme', async () => {
    await page.goto(`${web.url.split('#')[0]}#/runs/${runId}`)
    await page.getByTestId('pt-done').waitFor()
    await page.getByTestId('theme-toggle').click()
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
    await shot('pt-12-finished-dark')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Pre-train/ }).click()
    await page.getByTestId('pt-goto-mlp').click()
    await page.getByTestId('pt-mlp-cpmoe').check()
    await page.getByTestId('pt-matched-rank').waitFor()
    await shot('pt-13-wizard-dark')
    await page.getByTestId('pt-mlp-dense').check()
    await page.getByTestId('theme-toggle').click()
    expect(app.pageErrors).toEqual([])
  })
})
