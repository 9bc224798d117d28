/// <reference lib="dom" />
// Web mode end to end on real data: Debian's Fashion-MNIST (dataset-fashion-mnist, installed by
// scripts/setup.sh) in a fresh store, driven as a user would. The Classifiers page's one-click add
// of the installed set shows its split (compared with counts read from the IDX headers and label
// bytes here) and its ten class names; the training form trains a small CPμMoE MLP-Mixer (4
// experts, patch 7, depth 1) for one epoch on the first 2,000 training images; the run page shows
// the live progress (of 2,000 images) and, once it succeeded, the test accuracy classify.get holds
// (above chance); the run page's link opens the expert view, whose analysis of the first 1,000
// test images shows classify.getExperts' summary. Skipped when the Debian package is absent.
// Screenshots: test-results/screenshots/fm-*.png.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { constants, gunzipSync } from 'node:zlib'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FASHION_MNIST_DEBIAN_PATH } from '../../src/data/images/known.js'
import { openApp, type AppPage } from '../helpers/app-page.js'
import { waitFor } from '../helpers/wait.js'

const DIR = FASHION_MNIST_DEBIAN_PATH
const INSTALLED = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].every((f) => existsSync(join(DIR, f)))
/** The labels 0–9 as Fashion-MNIST's README names them. */
const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
/** The share of each class's training images images.add holds out for validation by default (docs/images.md). */
const VALIDATION_FRACTION = 0.1
const TRAIN_IMAGES = 2000
const BATCH = 64
const EXPERTS = 4
const MAX_IMAGES = 1000

/** The leading bytes of a gzipped file, inflating only its first compressed block(s). */
function gunzipHead(file: string, compressedBytes = 4096): Buffer {
  const head = readFileSync(file).subarray(0, compressedBytes)
  return gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH })
}

/** The item count of an IDX file: the big-endian u32 after the 4-byte magic. */
const idxCount = (file: string): number => gunzipHead(join(DIR, file)).readUInt32BE(4)

/** The split images.add should show: per class round(0.1·n) of the train file for validation. */
function expectedSplit(): { train: number; validation: number; test: number } {
  const labels = gunzipSync(readFileSync(join(DIR, 'train-labels-idx1-ubyte.gz')))
  expect(labels.readUInt32BE(0)).toBe(0x801)
  const n = labels.readUInt32BE(4)
  expect(n).toBe(idxCount('train-images-idx3-ubyte.gz'))
  const perClass = new Array<number>(CLASS_NAMES.length).fill(0)
  for (let i = 0; i < n; i++) perClass[labels[8 + i]!]!++
  const validation = perClass.reduce((s, c) => s + Math.round(VALIDATION_FRACTION * c), 0)
  const test = idxCount('t10k-images-idx3-ubyte.gz')
  expect(test).toBe(idxCount('t10k-labels-idx1-ubyte.gz'))
  return { train: n - validation, validation, test }
}

/** What the run page shows right now, read in one go (no waiting on elements that may never come). */
function runPageState(page: Page): Promise<{ status: string | null; percent: number; stats: string }> {
  return page.evaluate(() => ({
    status: document.querySelector('[data-testid="run-status"]')?.getAttribute('data-status') ?? null,
    percent: Number(document.querySelector('[data-testid="detail-progress"]')?.getAttribute('aria-valuenow') ?? 0),
    stats: document.querySelector('.live-stats')?.textContent?.replace(/\s+/g, ' ').trim() ?? '',
  }))
}

const ACTIVE = new Set(['queued', 'running'])

describe.skipIf(!INSTALLED)('Fashion-MNIST in web mode (skipped when dataset-fashion-mnist is not installed)', () => {
  let app: AppPage
  let page: Page
  let runId = 0

  beforeAll(async () => {
    // Viewport shots: the app scrolls inside its main pane, so a full-page shot would only add blank space.
    app = await openApp()
    page = app.page
    app.context.setDefaultTimeout(120_000)
  })
  afterAll(async () => {
    await app?.close()
  })

  it('adds the installed Fashion-MNIST in one click: its split and its ten classes', async () => {
    const split = expectedSplit()
    expect(split).toEqual({ train: 54_000, validation: 6_000, test: 10_000 })
    await page.goto(app.web.url)
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Classifiers/ }).click()
    await page.getByRole('heading', { name: 'Classifiers', level: 1 }).waitFor()
    // A fresh store: nothing registered, the installed set offered.
    await page.getByText('No image dataset registered yet').waitFor()
    await page.getByTestId('cls-add-known').filter({ hasText: 'Fashion-MNIST' }).click()
    const row = page.getByTestId('cls-dataset-row').filter({ hasText: 'fashion-mnist' })
    await row.waitFor()
    await expect.poll(() => row.locator('input[type=radio]').isChecked()).toBe(true)
    const cells = await row.locator('td.num').allTextContents()
    expect(cells).toEqual([split.train, split.validation, split.test].map((v) => v.toLocaleString('en-US')))
    // The classes cell: the count, the first four names, and all ten in its title.
    const classes = row.locator('td').nth(2)
    expect(await classes.getAttribute('title')).toBe(CLASS_NAMES.join(', '))
    expect((await classes.textContent())!.trim()).toBe(`10: ${CLASS_NAMES.slice(0, 4).join(', ')}, …`)
    expect(await row.locator('td.mono').textContent()).toBe('28×28 gray')
    // Added, it is no longer offered.
    await expect.poll(() => page.getByTestId('cls-add-known').count()).toBe(0)
    const listed = await (await app.web.client()).call('images.list', {})
    expect(listed.map((d) => [d.path, d.classes, d.splitSizes])).toEqual([[DIR, CLASS_NAMES, split]])
    await app.shot('fm-01-dataset-added')
  })

  it('trains a small CPμMoE mixer on the first 2,000 training images and shows its progress live', async () => {
    await page.locator('#cls-model').selectOption('mixer')
    await page.locator('#cls-mixer').selectOption('cpmoe')
    await page.getByTestId('cls-experts').fill(String(EXPERTS))
    await page.getByTestId('cls-hidden').fill('32')
    await page.getByTestId('cls-patch').fill('7')
    await page.getByTestId('cls-depth').fill('1')
    await page.getByTestId('cls-epochs').fill('1')
    await page.getByTestId('cls-batch').fill(String(BATCH))
    await page.getByTestId('cls-lr').fill('0.003')
    // More than the train split holds is refused in the form, naming the split's size.
    await page.getByTestId('cls-train-images').fill('60000')
    await page.getByText('The number of training images must be at most 54,000, the train split of fashion-mnist.').first().waitFor()
    await expect.poll(() => page.getByTestId('cls-start').isDisabled()).toBe(true)
    await page.getByTestId('cls-train-images').fill(TRAIN_IMAGES.toLocaleString('en-US'))
    await expect.poll(() => page.getByTestId('cls-start').isDisabled()).toBe(false)
    await page.getByTestId('cls-start').click()
    await page.waitForURL(/#\/runs\/\d+$/)
    runId = Number(/runs\/(\d+)$/.exec(page.url())![1])
    const client = await app.web.client()
    const config = (await client.call('classify.get', { runId })).config
    expect(config).toMatchObject({ model: 'mixer', modelConfig: { mlp: 'cpmoe', experts: EXPERTS, hidden: 32, patch: 7, depth: 1 }, epochs: 1, batch: BATCH, trainImages: TRAIN_IMAGES })

    // The live card, if the run is still going when the page looks: progress counted in the 2,000
    // images (one epoch), moving on. A run that already ended is fine too: nothing assumes it is slow.
    const live = await waitFor('the run page to show progress or the run to end', async () => {
      const s = await runPageState(page)
      if (s.status !== null && !ACTIVE.has(s.status)) return null
      return s.percent > 0 && s.stats !== '' ? s : undefined
    }, { intervalMs: 20, timeoutMs: 180_000 })
    if (live) {
      const m = /^(\d+) \/ (\d+) images/.exec(live.stats)
      expect(m, live.stats).not.toBeNull()
      expect(Number(m![2])).toBe(TRAIN_IMAGES)
      expect(Number(m![1])).toBeGreaterThan(0)
      await app.shot('fm-02-training')
      // It moves on: more images done, or the run ended.
      await waitFor('the progress to move on', async () => {
        const s = await runPageState(page)
        if (s.status !== null && !ACTIVE.has(s.status)) return true
        const d = /^(\d+) \//.exec(s.stats)
        return d && Number(d[1]) > Number(m![1]) ? true : undefined
      }, { intervalMs: 20, timeoutMs: 180_000 })
    } else {
      console.warn(`fashion-mnist-ui: run ${runId} ended before its progress was seen; no in-progress screenshot`)
    }
    await expect.poll(() => page.getByTestId('run-status').getAttribute('data-status'), { timeout: 180_000 }).toBe('succeeded')
    client.close()
  }, 300_000)

  it('shows the test accuracy of classify.get, above chance, with the epoch charts', async () => {
    const client = await app.web.client()
    const state = await client.call('classify.get', { runId })
    client.close()
    const r = state.train!
    expect(r.steps).toBe(Math.ceil(TRAIN_IMAGES / BATCH))
    expect(r.samplesPerSecond * r.trainSeconds).toBeCloseTo(TRAIN_IMAGES, 6)
    expect(r.test.images).toBe(10_000)
    expect(r.test.classes).toEqual(CLASS_NAMES)
    expect(r.test.accuracy).toBeGreaterThan(0.3)
    await expect.poll(() => page.getByTestId('cls-test-accuracy').textContent()).toBe(`${(100 * r.test.accuracy).toFixed(2)}%`)
    for (const m of ['loss', 'train_accuracy', 'validation_accuracy', 'test_accuracy']) await page.locator(`.chart-card[data-metric="${m}"]`).waitFor()
    await app.shot('fm-03-run-finished')
  })

  it('opens the expert view from the run page and shows the summary classify.getExperts holds for 1,000 test images', async () => {
    await page.getByTestId('cls-experts-link').click()
    await page.waitForURL(new RegExp(`#/classifiers/experts\\?run=${runId}`))
    await page.getByRole('heading', { name: 'Image experts', level: 1 }).waitFor()
    await expect.poll(() => page.getByTestId('train-model').textContent()).toBe(`mixer · cpmoe · ${EXPERTS} experts`)
    await page.getByTestId('analyze-max').fill(String(MAX_IMAGES))
    // The browser takes the number as typed (a step of 100 from 1 once made it refuse 1,000 and drop the submit).
    expect(await page.getByTestId('analyze-max').evaluate((el: HTMLInputElement) => el.checkValidity())).toBe(true)
    await expect.poll(() => page.getByTestId('analyze').isDisabled()).toBe(false)
    await page.getByTestId('analyze').click()
    // The analysis may end before its progress card is seen.
    await page.waitForURL(/analysis=\d+/)
    const analysisRunId = Number(/analysis=(\d+)/.exec(page.url())![1])
    const client = await app.web.client()
    await page.getByTestId('image-experts-lead').waitFor({ timeout: 180_000 })
    const result = await client.call('classify.getExperts', { runId: analysisRunId })
    client.close()
    expect(result.status).toBe('succeeded')
    const a = result.analysis!
    expect(a).toMatchObject({ mlp: 'cpmoe', nExperts: EXPERTS, nBlocks: 1, patches: 16, classes: CLASS_NAMES })
    expect(a.data).toMatchObject({ split: 'test', images: MAX_IMAGES })
    await expect.poll(() => page.getByTestId('image-experts-lead').textContent()).toMatch(new RegExp(`^\\s*1,000 images of the test split · ${EXPERTS} experts × 1 block \\(CPμMoE\\) · 16 patches per image`))

    const all = page.locator('[data-testid="image-experts-summary"][data-block="all"]')
    const s = a.summary
    const dominated = a.blocks.flatMap((b) => b.experts).filter((x) => x.dominatedBy !== null).length
    const percent = (x: number): string => `${(100 * x).toFixed(x > 0 && x < 0.1 ? 1 : 0)}%`
    await expect.poll(() => all.getByTestId('fact-active').textContent()).toBe(`${s.active} of ${s.experts}`)
    await expect.poll(() => all.getByTestId('fact-dominated').textContent()).toBe(`${percent(s.dominated)} (${dominated})`)
    await expect.poll(() => all.getByTestId('fact-entropy').textContent()).toBe(`${s.meanClassEntropy.toFixed(2)} bits (median ${s.medianClassEntropy.toFixed(2)})`)
    for (const c of a.classes) await expect.poll(() => all.locator(`[data-class="${c}"] .n`).textContent()).toBe(String(s.classCounts[c] ?? 0))
    // One block: its summary is the all-blocks one, so no block tabs and no second summary.
    expect(await page.getByRole('radiogroup', { name: 'Block' }).count()).toBe(0)
    expect(await page.getByTestId('image-experts-summary').count()).toBe(1)
    await expect.poll(() => page.getByTestId('image-expert').count()).toBe(EXPERTS)
    // Every card's top images drawn (one canvas each), none failed.
    for (const x of a.blocks[0]!.experts) {
      const card = page.locator(`[data-testid="image-expert"][data-expert="${x.expert}"]`)
      await expect.poll(() => card.locator('[data-testid="top-images"] canvas').count()).toBe(x.topImages.length)
    }
    expect(await page.getByTestId('top-images-error').count()).toBe(0)
    await app.shot('fm-04-expert-view')
    expect(app.pageErrors).toEqual([])
  }, 300_000)
})
