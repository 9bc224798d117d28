/// <reference lib="dom" />
// The image expert page end to end in web mode: real `mxd web` on a temp store, the built renderer
// in Debian's Chromium. Registers the planted 8×8 IDX set (four classes, a bright bar on rows 2c,
// 2c+1) and trains a small CPμMoE mixer on it through the API (a few epochs), opens
// /classifiers/experts?run=<that run>, starts the analysis from the page, and checks the page's
// summary against classify.getExperts: active experts, the dominated share (and that it equals the
// count of dominated experts in the per-expert reports over the active ones), class entropy, the
// per-class chart, one card per expert with its dominating class, and each expert's top-image
// grid (its images drawn from images.get's bytes, checked pixel for pixel).
// Screenshots: test-results/screenshots/iex-*.png.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ImageExpertAnalysis } from '../../src/shared/image-experts.js'
import { openApp, SHOTS, type AppPage } from '../helpers/app-page.js'
import { waitFor } from '../helpers/wait.js'
import { writePlantedIdx } from '../unit/classify/planted.js'

const EXPERTS = 4
const DEPTH = 2
let app: AppPage
let trainRunId = 0
let datasetId = 0
let analysis: ImageExpertAnalysis

/** A share as the page writes it: whole percent, one decimal below 10%. */
const percent = (x: number): string => `${(100 * x).toFixed(x > 0 && x < 0.1 ? 1 : 0)}%`

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mxd-iex-ui-'))
  app = await openApp({ fullPage: true, cleanup: [dir] })
  app.context.setDefaultTimeout(60_000)
  const client = await app.web.client()
  const d = await client.call('images.add', { path: writePlantedIdx(join(dir, 'planted'), { train: 40, test: 20 }) })
  datasetId = d.id
  const { runId } = await client.call('classify.start', {
    data: datasetId,
    model: 'mixer',
    modelConfig: { patch: 4, hidden: 16, tokenMixing: 8, channelMixing: 32, depth: DEPTH, mlp: 'cpmoe', experts: EXPERTS },
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
    epochs: 4,
    batch: 16,
    seed: 2,
  })
  trainRunId = runId
  await waitFor(`classify-train run ${runId}`, async () => {
    const r = await client.call('classify.get', { runId })
    if (r.status === 'succeeded') return true
    if (!['queued', 'running'].includes(r.status)) throw new Error(`run ${runId} ${r.status}: ${r.error ?? ''}\n${app.web.stderr()}`)
    return undefined
  }, { intervalMs: 200, timeoutMs: 120_000 })
  client.close()
}, 180_000)

afterAll(async () => {
  await app?.close()
})

describe('image expert page in web mode', () => {
  it('opens on the training run, with its model and dataset, and the help text', async () => {
    const { page } = app
    // web.url carries the session token in its query: the page's route goes in the hash.
    const url = new URL(app.web.url)
    url.hash = `/classifiers/experts?run=${trainRunId}`
    await page.goto(url.toString())
    await page.getByRole('heading', { name: 'Image experts', level: 1 }).waitFor()
    await expect.poll(() => page.getByTestId('train-model').textContent()).toBe(`mixer · cpmoe · ${EXPERTS} experts`)
    await expect.poll(() => page.getByTestId('analyze-form').textContent()).toContain(`dataset ${datasetId}`)
    await expect.poll(() => page.getByTestId('analyze').isDisabled()).toBe(false)
    const help = page.getByTestId('image-experts-help')
    await help.locator('summary').click()
    await help.getByText('Base-rate balancing.').waitFor()
    await app.shot('iex-01-start')
  })

  it('runs the analysis and shows the summary the back end computed', async () => {
    const { page } = app
    await page.getByTestId('analyze').click()
    // The run may end before its progress card is seen.
    await page.getByTestId('image-experts-lead').waitFor({ timeout: 120_000 })
    await page.waitForURL(/analysis=\d+/)
    const analysisRunId = Number(/analysis=(\d+)/.exec(page.url())![1])
    const client = await app.web.client()
    const result = await client.call('classify.getExperts', { runId: analysisRunId })
    client.close()
    expect(result.status).toBe('succeeded')
    analysis = result.analysis!
    expect(analysis.nExperts).toBe(EXPERTS)
    expect(analysis.nBlocks).toBe(DEPTH)
    expect(analysis.data).toEqual({ datasetId, split: 'test', images: 80 })

    const all = page.locator('[data-testid="image-experts-summary"][data-block="all"]')
    const s = analysis.summary
    await expect.poll(() => all.getByTestId('fact-active').textContent()).toBe(`${s.active} of ${s.experts}`)
    // The dominated share, recounted from the per-expert reports: dominated experts over active ones.
    const experts = analysis.blocks.flatMap((b) => b.experts)
    const dominated = experts.filter((x) => x.dominatedBy !== null).length
    const active = experts.filter((x) => x.active).length
    expect(s.active).toBe(active)
    expect(s.dominated).toBeCloseTo(active > 0 ? dominated / active : 0, 12)
    await expect.poll(() => all.getByTestId('fact-dominated').textContent()).toBe(`${percent(s.dominated)} (${dominated})`)
    await expect.poll(() => all.getByTestId('fact-entropy').textContent()).toBe(
      `${s.meanClassEntropy.toFixed(2)} bits (median ${s.medianClassEntropy.toFixed(2)})`,
    )
    // The per-class chart: experts dominated per class, recounted from the reports.
    for (const c of analysis.classes) {
      const n = experts.filter((x) => x.dominatedBy === c).length
      expect(s.classCounts[c] ?? 0).toBe(n)
      await expect.poll(() => all.locator(`[data-class="${c}"] .n`).textContent()).toBe(String(n))
    }
    await app.shot('iex-02-summary')
  })

  it('lists every expert of a block with its dominating class and its top-image grid', async () => {
    const { page } = app
    const client = await app.web.client()
    for (const b of analysis.blocks) {
      await page.getByRole('radio', { name: `Block ${b.block}` }).click()
      const sum = page.locator(`[data-testid="image-experts-summary"][data-block="${b.block}"]`)
      await expect.poll(() => sum.getByTestId('fact-active').textContent()).toBe(`${b.summary.active} of ${b.summary.experts}`)
      const cards = page.getByTestId('image-expert')
      await expect.poll(() => cards.count()).toBe(b.experts.length)
      for (const x of b.experts) {
        const card = page.locator(`[data-testid="image-expert"][data-expert="${x.expert}"]`)
        const tag = (await card.getByTestId('dominated-by').textContent())!.trim()
        expect(tag).toBe(x.dominatedBy !== null ? `dominated by ${x.dominatedBy}` : (x.active ? `mixed · top ${x.topClass}` : 'inactive'))
        expect(x.topImages.length).toBeGreaterThan(0)
        // The top images, drawn from images.get's bytes: one canvas each, the first holding exactly its pixels.
        const thumbs = card.locator('[data-testid="top-images"] canvas')
        await expect.poll(() => thumbs.count()).toBe(x.topImages.length)
        expect(await card.getByTestId('top-images-error').count()).toBe(0)
        const t = x.topImages[0]!
        expect(await thumbs.first().getAttribute('title')).toBe(`${analysis.classes[t.label]} · image ${t.index} · weight ${t.weight.toFixed(3)}`)
        const sent = await client.call('images.get', { datasetId: analysis.data.datasetId, split: analysis.data.split, indices: [t.index] })
        const drawn = await thumbs.first().evaluate((c) => {
          const canvas = c as HTMLCanvasElement
          const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data
          return Array.from({ length: canvas.width * canvas.height }, (_, i) => d[4 * i]!)
        })
        expect(drawn).toEqual(Array.from(Buffer.from(sent.images[0]!.pixels, 'base64')))
      }
      await app.shot(`iex-03-block-${b.block}`)
      await page.getByTestId('image-expert-list').screenshot({ path: join(SHOTS, `iex-04-experts-block-${b.block}.png`) })
    }
    client.close()
    expect(app.pageErrors).toEqual([])
  })
})
