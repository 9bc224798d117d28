/// <reference lib="dom" />
// The conversion wizard end to end in web mode: real `mxd web` on a temp store, the built
// renderer in Debian's Chromium, the bundled demo model and its corpus (or, without them, the tiny
// GPT-2 fixture with a byte tokenizer and a small text file). Goes through every wizard step
// (with refused values on the way), starts a tiny run, checks its charts fill in live, waits
// for the held-out evaluation table, finds the run's point on the frontier chart and opens the
// run from it, queues a sweep of two K values, and looks at the pages in the dark theme.
// Screenshots land in test-results/screenshots/cv-*.png.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openApp, type AppPage } from '../helpers/app-page.js'
import { tinyModelWithByteTokenizer } from '../helpers/byte-tokenizer.js'
import { cancelIfActive } from '../helpers/jobs.js'
import type { WebProcess } from '../helpers/web-process.js'

const LAYER = 1

let app: AppPage
let web: WebProcess
let page: Page
const cleanup: string[] = []
let modelId = 0
let demo = true
/** Fallback only: a text file typed into the dataset step. */
let textFile = ''
let runId = 0

const shot = (name: string): Promise<void> => app.shot(name)

/** Plain text, documents separated by blank lines, for the fallback model. */
function writeSmallCorpus(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mxd-convert-ui-'))
  cleanup.push(dir)
  const words =
    'the quick brown fox jumps over a lazy dog while seven wise owls sing softly under silver moonlight and rivers run to the sea'.split(
      ' ',
    )
  const docs: string[] = []
  for (let d = 0; d < 120; d++) {
    const lines: string[] = []
    for (let l = 0; l < 6; l++)
      lines.push(Array.from({ length: 14 }, (_, i) => words[(d * 7 + l * 3 + i * 5) % words.length]).join(' ') + '.')
    docs.push(lines.join('\n'))
  }
  const file = join(dir, 'corpus.txt')
  writeFileSync(file, docs.join('\n\n') + '\n')
  return file
}

const next = (): Promise<void> => page.getByTestId('wizard-next').click()
const stepShown = (id: string): Promise<void> => page.getByTestId(`wizard-step-${id}`).waitFor()

beforeAll(async () => {
  app = await openApp({ fullPage: true, cleanup })
  ;({ web, page } = app)
  const client = await web.client()
  const bundled = (await client.call('models.list', {})).find((m) => m.source === 'bundled' && m.info)
  if (bundled) modelId = bundled.id
  else {
    demo = false
    const dir = tinyModelWithByteTokenizer()
    cleanup.push(dir)
    modelId = (await client.call('models.add', { path: dir })).id
    textFile = writeSmallCorpus()
  }
  client.close()
})

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') await app?.shot(`cv-failed-${ctx.task.name.slice(0, 40).replace(/\W+/g, '-')}`)
})

afterAll(async () => {
  await app?.close()
})

describe('Conversion wizard in web mode', () => {
  it('opens from the sidebar on the model step', async () => {
    await page.goto(web.url)
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: /Convert/ })
      .click()
    await page.getByRole('heading', { name: 'Convert', level: 1 }).waitFor()
    await stepShown('model')
    await page.locator(`[data-model-id="${modelId}"] input`).check()
    await shot('cv-01-model')
    await next()
    await stepShown('layer')
    await page.getByTestId('wizard-layers').waitFor()
    await page.locator(`#layer-${LAYER}`).check()
    await shot('cv-02-layer')
  })

  it('prefills model and layer from the URL and registers a dataset (after refusing a bad path)', async () => {
    await page.evaluate(([m, l]) => (location.hash = `#/convert?model=${m}&layer=${l}`), [modelId, LAYER])
    await stepShown('data')
    await page.getByTestId('data-path').fill('/no/such/corpus.txt')
    await page.getByTestId('data-add').click()
    await expect.poll(() => page.getByTestId('data-error').textContent()).toMatch(/\/no\/such\/corpus\.txt/)
    await expect.poll(() => page.getByTestId('data-path').getAttribute('aria-invalid')).toBe('true')
    // Next without a dataset: refused with a message.
    await next()
    await page.getByTestId('step-error').getByText('Pick a dataset').waitFor()
    if (demo) {
      await page.getByTestId('suggest-corpus').getByRole('button', { name: 'Use the bundled corpus' }).click()
    } else {
      await page.getByTestId('data-path').fill(textFile)
      await page.getByTestId('data-add').click()
    }
    await page
      .getByRole('status')
      .getByText(/^Registered /)
      .waitFor({ timeout: 120_000 })
    await expect.poll(() => page.locator('input[name="dataset"]:checked').count()).toBe(1)
    await shot('cv-03-dataset')
  })

  it('sizes the layer with live parameter counts and inline errors', async () => {
    await next()
    await stepShown('size')
    await page.locator('input[data-kind="mxd"]').check()
    const counts = page.getByTestId('param-counts')
    await counts.getByText('Dense MLP it replaces').waitFor()
    await counts.getByText('TopK transcoder, 32·d latents').waitFor()
    // The parameter-matched N (demo: d = 192, H = 768 → 5,362).
    if (demo) await page.getByText('Parameter-matched: 5,362').waitFor()
    await page.getByTestId('f-k').fill('abc')
    await page.getByTestId('f-k').blur()
    await page.getByText('K must be a number, not “abc”.').waitFor()
    await expect.poll(() => page.getByTestId('f-k').getAttribute('aria-invalid')).toBe('true')
    // Larger than the experts: the back end's preview says so.
    await page.getByTestId('n-custom').check()
    await page.getByTestId('f-n').fill('16')
    await page.getByTestId('f-k').fill('32')
    await page.getByText(/K = 32 is larger than the 16 experts/i).waitFor()
    await page.getByTestId('f-n').fill('512')
    await page.getByTestId('f-k').fill('8')
    await page.getByText(/K = 32 is larger than the 16 experts/i).waitFor({ state: 'detached' })
    // 512 experts: 2·(192·768) + 768 + 192 (E, b_E, D, b_out) + 512·(2·192 + 1).
    if (demo) await page.getByTestId('param-counts').getByText('492,992').waitFor()
    await expect.poll(() => page.getByTestId('param-ratio').textContent()).toMatch(/the dense MLP’s parameters/)
    await shot('cv-04-size')
  })

  it('takes a tiny training budget, refusing a budget below one batch', async () => {
    await next()
    await stepShown('budget')
    await page.getByTestId('f-batch').fill('64')
    await page.getByTestId('f-tokens').fill('10')
    await next()
    await page
      .getByTestId('step-error')
      .getByText(/at least one batch/)
      .waitFor()
    // "4k" reads as 4,000, shown beside the label; the batch's bound is ConvertConfig's (at most 65,536).
    await page.getByTestId('f-tokens').fill('4k')
    await expect.poll(() => page.getByTestId('f-tokens-value').textContent()).toBe('= 4,000')
    await page.getByTestId('f-batch').fill('70_000')
    await expect.poll(() => page.locator('#f-batch-e').textContent()).toBe('The batch size must be at most 65,536.')
    await page.getByTestId('f-batch').fill('64')
    await page.getByTestId('f-tokens').fill('4096')
    await expect.poll(() => page.getByTestId('f-tokens-value').count()).toBe(0)
    await page.getByTestId('f-lr').fill('0.003')
    await page.getByText('Evaluation and advanced settings').click()
    await page.getByTestId('f-eval-tokens').fill(demo ? '2048' : '512')
    await page.getByTestId('f-metrics-every').fill('2')
    await page.getByTestId('f-buffer').fill('512')
    await page.getByTestId('f-harvest-batch').fill('1')
    if (!demo) await page.locator('#f-ctx').fill('32')
    await page.getByTestId('estimate').getByText('64 optimizer steps').waitFor()
    await shot('cv-05-budget')
    // Enter in a field goes on, as Next does.
    await page.getByTestId('f-tokens').press('Enter')
    await stepShown('review')
    const summary = page.getByTestId('review-summary')
    await summary.getByText('MxD', { exact: true }).waitFor()
    await summary.getByText(/^512 *$/).waitFor()
    await summary.getByText(/4,?096 tokens = 64 steps of 64/).waitFor()
    await shot('cv-06-review')
  })

  it('starts the run; its charts fill in live, without a reload, with every stored point', async () => {
    await page.getByTestId('wizard-start').click()
    await page.waitForURL(/#\/runs\/\d+$/)
    runId = Number(/#\/runs\/(\d+)$/.exec(page.url())![1])
    await page.getByTestId('convert-panel').waitFor()
    // Count the NMSE chart's points at every DOM change until the run's status is final. How many
    // updates land while it runs depends on the back end's speed (a fast one may finish between
    // two renders), so what is checked is what holds at any speed: the count never goes back, and
    // the page, never reloaded since the run started, ends with every stored point — they all
    // arrived live.
    await page.evaluate(() => {
      const w = window as unknown as { counts: number[] }
      w.counts = []
      const record = (): void => {
        const n = document.querySelectorAll('[data-chart="nmse"] g.series circle').length
        if (w.counts.at(-1) !== n) w.counts.push(n)
      }
      record()
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true })
    })
    await shot('cv-07-training-live') // mid-run or already done: the back end's speed decides
    await page
      .getByTestId('run-status')
      .getByText(/succeeded/i)
      .waitFor({ timeout: 150_000 })
    const client = await web.client()
    const stored = (await client.call('runs.get', { id: runId })).metrics
    client.close()
    const nmsePoints = stored.filter((m) => m.name === 'nmse').length
    expect(nmsePoints).toBe(32) // 64 steps, a point every 2
    await expect.poll(() => page.locator('[data-chart="nmse"] g.series circle').count()).toBe(nmsePoints)
    const counts = await page.evaluate(() => (window as unknown as { counts: number[] }).counts)
    for (let i = 1; i < counts.length; i++) expect(counts[i]!, `point counts seen: ${counts.join(' → ')}`).toBeGreaterThan(counts[i - 1]!)
    for (const name of ['loss', 'l0', 'dead_fraction']) {
      const n = stored.filter((m) => m.name === name).length
      expect(n).toBe(nmsePoints)
      await expect.poll(() => page.locator(`[data-chart="${name}"] g.series circle`).count()).toBe(n)
    }
  }, 300_000)

  it('shows the held-out evaluation on the same page', async () => {
    const table = page.getByTestId('eval-table')
    await table.waitFor({ timeout: 180_000 })
    const value = async (name: string): Promise<number> =>
      Number((await table.locator(`tr[data-metric="${name}"] td.num`).textContent())!.replace(/[,%]/g, ''))
    const nmse = await value('eval.nmse')
    expect(nmse).toBeGreaterThan(0)
    expect(nmse).toBeLessThan(2)
    const l0 = await value('eval.l0')
    expect(l0).toBeGreaterThan(0)
    expect(l0).toBeLessThanOrEqual(8) // TopK keeps 8; the ReLU gate can leave fewer non-zero
    for (const name of ['eval.fvu', 'eval.explained_variance', 'eval.ce_clean', 'eval.ce_spliced', 'eval.ce_zero'])
      expect(Number.isFinite(await value(name))).toBe(true)
    expect(await value('eval.ce_clean')).toBeGreaterThan(0)
    await table.getByText('(CE zero − CE spliced) / (CE zero − CE clean)', { exact: false }).waitFor()
    await page.getByTestId('eval-section').scrollIntoViewIfNeeded()
    await shot('cv-08-evaluation')
  }, 240_000)

  it('exports the layer to a folder, refusing a relative path', async () => {
    await page.getByTestId('export-open').click()
    await page.getByTestId('export-dir').fill('relative/folder')
    await page.getByTestId('export-go').click()
    await page.getByText(/absolute path/).waitFor()
    const out = join(mkdtempSync(join(tmpdir(), 'mxd-export-')), 'layer')
    cleanup.push(out)
    await page.getByTestId('export-dir').fill(out)
    await page.getByTestId('export-go').click()
    await page
      .getByTestId('export-done')
      .getByText(/cfg\.json/)
      .waitFor()
  })

  it('puts the run on the frontier chart; its point opens the run', async () => {
    await page.getByTestId('open-frontier').click()
    await page.waitForURL(/#\/convert\/frontier\?/)
    const point = page.locator(`[data-testid="frontier-nmse"] circle[data-point-id="${runId}"]`)
    await point.waitFor()
    await page.locator(`[data-testid="frontier-ce"] circle[data-point-id="${runId}"]`).waitFor()
    const row = page.getByTestId('frontier-table').locator(`tr[data-run-id="${runId}"]`)
    await expect.poll(() => row.locator('td').nth(1).textContent()).toBe('8')
    await shot('cv-09-frontier')
    await page.getByTestId('x-l0').check()
    await point.waitFor()
    await point.click()
    await page.waitForURL(new RegExp(`#/runs/${runId}$`))
    await page.getByTestId('convert-panel').waitFor()
  })

  it('queues a sweep of two K values, one run each with the same data', async () => {
    const client = await web.client()
    const before = (await client.call('runs.list', { kind: 'convert' })).map((r) => r.id)
    const sweepLayer = demo ? 2 : 0
    await page.evaluate(([m, l]) => (location.hash = `#/convert?model=${m}&layer=${l}`), [modelId, sweepLayer])
    await stepShown('data')
    await expect.poll(() => page.locator('input[name="dataset"]:checked').count()).toBe(1)
    await next()
    await stepShown('size')
    await page.getByTestId('sweep-toggle').check()
    await page.getByTestId('sweep-ks').fill('4, 8')
    await next()
    await stepShown('budget')
    await next()
    await stepShown('review')
    await page
      .getByTestId('review-summary')
      .getByText(/2 runs: MxD × K ∈ \{4, 8\}/)
      .waitFor()
    await page.getByTestId('wizard-start').getByText('Queue 2 runs').click()
    const result = page.getByTestId('sweep-result')
    await result.waitFor()
    await expect.poll(() => result.getByRole('link', { name: /^run \d+$/ }).count()).toBe(2)
    await shot('cv-10-sweep-queued')
    const added = (await client.call('runs.list', { kind: 'convert' })).filter((r) => !before.includes(r.id))
    expect(added.map((r) => [r.config.k, r.config.kind, r.config.layer, r.config.data]).sort()).toEqual([
      [4, 'mxd', sweepLayer, added[0]!.config.data],
      [8, 'mxd', sweepLayer, added[0]!.config.data],
    ])
    // Not needed further: stop them so the machine is free.
    for (const r of added) await cancelIfActive(client, r.id)
    client.close()
  })

  it('works in the dark theme', async () => {
    await page.getByTestId('theme-toggle').click()
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
    await shot('cv-11-review-dark')
    await page.evaluate((id) => (location.hash = `#/runs/${id}`), runId)
    await page.getByTestId('eval-table').waitFor()
    await page.getByTestId('eval-section').scrollIntoViewIfNeeded()
    await shot('cv-12-run-dark')
    await page.evaluate(([m, l]) => (location.hash = `#/convert/frontier?model=${m}&layer=${l}`), [modelId, LAYER])
    await page.locator(`[data-testid="frontier-nmse"] circle[data-point-id="${runId}"]`).waitFor()
    await shot('cv-13-frontier-dark')
    await page.getByTestId('theme-toggle').click()
    expect(app.pageErrors).toEqual([])
  })
})
