/// <reference lib="dom" />
// The Classifiers page end to end in web mode: real `mxd web` on a temp store, the built renderer
// in Debian's Chromium. Adds a planted 8×8 IDX set (class c: a bright bar on rows 2c, 2c+1) whose
// first test images are deliberately mislabelled, trains a tiny CPμMoE mixer from the form (the
// rank field shows the engine's matchedMixerRank; cosine schedule and flip set in the form are the
// stored config's), follows its run page to the end, and checks: the test accuracy and confusion
// matrix shown equal classify.get's and agree with the planted construction (each mislabelled image
// lands in the cell of its bar's class), the misclassified examples are drawn with exactly the
// planted pixels, a PNG of a planted image is classified as its class, the run is listed with its
// accuracy, and "Evaluate on…" a second planted set opens a classify-eval run page whose accuracy
// and confusion matrix are classify.get's evaluation and the planted expectation.
// Screenshots land in test-results/screenshots/cls-*.png.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PNG } from 'pngjs'
import type { Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Rng } from '../../src/data/shuffle.js'
import { matchedMixerRank, mixerSchema } from '../../src/engine/classifiers/mixer.js'
import { openApp, type AppPage } from '../helpers/app-page.js'
import type { WebProcess } from '../helpers/web-process.js'
import { CLASSES, plantedImage, SIDE, writePlantedIdx } from '../unit/classify/planted.js'

const TRAIN_PER_CLASS = 30
const TEST_PER_CLASS = 8
/** Test images 0..2 get the label of the next class: the bar says one class, the label another. */
const MISLABELLED = [0, 1, 2]

let app: AppPage
let web: WebProcess
let page: Page
const cleanup: string[] = []
let dataDir = ''
/** The test split as written: labels (after the mislabelling) and pixels. */
let testLabels: Uint8Array
let testPixels: Uint8Array
let runId = 0

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mxd-cls-ui-'))
  cleanup.push(dir)
  dataDir = writePlantedIdx(join(dir, 'planted'), { train: TRAIN_PER_CLASS, test: TEST_PER_CLASS })
  const labelsFile = join(dataDir, 't10k-labels-idx1-ubyte')
  const labels = readFileSync(labelsFile)
  for (const i of MISLABELLED) labels[8 + i] = (labels[8 + i]! + 1) % CLASSES
  writeFileSync(labelsFile, labels)
  testLabels = new Uint8Array(labels.subarray(8))
  testPixels = new Uint8Array(readFileSync(join(dataDir, 't10k-images-idx3-ubyte')).subarray(16))
  app = await openApp({ cleanup })
  ;({ web, page } = app)
  cleanup.push(web.store)
})

afterAll(async () => {
  await app?.close()
})

/** An <img>'s pixels read back through a canvas: size, red channel, and whether it is gray. */
function drawnGray(img: Locator): Promise<{ w: number; h: number; gray: number[]; same: boolean }> {
  return img.evaluate(async (el: HTMLImageElement) => {
    await el.decode()
    const c = document.createElement('canvas')
    c.width = el.naturalWidth
    c.height = el.naturalHeight
    const ctx = c.getContext('2d')!
    ctx.drawImage(el, 0, 0)
    const d = ctx.getImageData(0, 0, c.width, c.height).data
    return { w: c.width, h: c.height, gray: Array.from({ length: c.width * c.height }, (_, p) => d[4 * p]!), same: Array.from({ length: c.width * c.height }, (_, p) => d[4 * p] === d[4 * p + 1] && d[4 * p] === d[4 * p + 2]).every(Boolean) }
  })
}

describe('Classifiers page in web mode', () => {
  it('opens from the sidebar and adds the planted IDX folder, showing its classes and split sizes', async () => {
    await page.goto(web.url)
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Classifiers/ }).click()
    await page.getByRole('heading', { name: 'Classifiers', level: 1 }).waitFor()
    await page.getByTestId('cls-add-path').fill('/no/such/images')
    await page.getByTestId('cls-add').click()
    await page.locator('#cls-add-path-e, .field .error').getByText(/no\/such\/images/).first().waitFor()
    await page.getByTestId('cls-add-path').fill(dataDir)
    await page.getByTestId('cls-add').click()
    const row = page.getByTestId('cls-dataset-row').filter({ hasText: 'planted' })
    await row.waitFor()
    await expect.poll(() => row.locator('input[type=radio]').isChecked()).toBe(true)
    // 10% of each class's 30 training images (3) held out for validation; the official test split kept.
    const cells = await row.locator('td.num').allTextContents()
    expect(cells).toEqual([String(CLASSES * (TRAIN_PER_CLASS - 3)), String(CLASSES * 3), String(CLASSES * TEST_PER_CLASS)])
    await app.shot('cls-01-datasets')
  })

  it('trains a tiny CPμMoE mixer from the form and follows its run page to the end', async () => {
    await page.locator('#cls-model').selectOption('mixer')
    await page.locator('#cls-mixer').selectOption('cpmoe')
    await page.getByTestId('cls-experts').fill('1')
    await page.getByText('The number of experts must be at least 2.').first().waitFor()
    await expect.poll(() => page.getByTestId('cls-start').isDisabled()).toBe(true)
    await page.getByTestId('cls-experts').fill('4')
    await page.getByTestId('cls-hidden').fill('16')
    await page.getByTestId('cls-depth').fill('1')
    await page.getByTestId('cls-token-mixing').fill('0')
    await page.getByText('The token-mixing width must be at least 1.').first().waitFor()
    await page.getByTestId('cls-token-mixing').fill('8')
    await page.getByTestId('cls-channel-mixing').fill('32')
    await page.getByTestId('cls-epochs').fill('8')
    await page.getByTestId('cls-batch').fill('16')
    await page.getByTestId('cls-lr').fill('0.01')
    // The rank field: blank trains at the matched rank, which is the engine's for this config.
    const engine = matchedMixerRank(mixerSchema.parse({ mlp: 'cpmoe', experts: 4, hidden: 16, depth: 1, tokenMixing: 8, channelMixing: 32 }), { height: SIDE, width: SIDE, channels: 1, classes: CLASSES })
    await expect.poll(() => page.getByTestId('cls-rank-sizes').getAttribute('data-matched')).toBe(String(engine.rank))
    expect(await page.getByTestId('cls-rank').getAttribute('placeholder')).toBe(String(engine.rank))
    expect(await page.getByTestId('cls-matched-rank').textContent()).toBe(`R = ${engine.rank}`)
    expect(await page.getByTestId('cls-dense-params').textContent()).toBe(engine.denseParams.toLocaleString('en-US'))
    expect(await page.getByTestId('cls-model-params').textContent()).toBe(engine.mumoeParams.toLocaleString('en-US'))
    // Momentum is SGD's only; the cosine's fields show once it is chosen.
    expect(await page.getByTestId('cls-momentum').count()).toBe(0)
    await page.locator('#cls-schedule').selectOption('cosine')
    await page.getByTestId('cls-warmup').fill('3')
    await page.getByTestId('cls-floor').fill('0.1')
    await page.getByTestId('cls-flip').check()
    await app.shot('cls-02-form')
    await page.getByTestId('cls-start').click()
    await page.waitForURL(/#\/runs\/\d+$/)
    runId = Number(/runs\/(\d+)$/.exec(page.url())![1])
    const config = (await (await web.client()).call('classify.get', { runId })).config
    expect(config.schedule).toEqual({ kind: 'cosine', warmup: 3, minLrRatio: 0.1 })
    expect(config.augment).toEqual({ flip: true, cropPadding: 0 })
    expect(config.modelConfig).toEqual({ mlp: 'cpmoe', experts: 4, hidden: 16, depth: 1, tokenMixing: 8, channelMixing: 32 })
    await expect.poll(() => page.getByTestId('run-status').getAttribute('data-status'), { timeout: 120_000 }).toBe('succeeded')
    await page.getByTestId('cls-test-accuracy').waitFor()
    // The epoch metrics came in as charts on the shared run page.
    for (const m of ['loss', 'train_accuracy', 'validation_accuracy', 'samples_per_s']) await page.locator(`.chart-card[data-metric="${m}"]`).waitFor()
    await app.shot('cls-03-run-done')
  })

  it('shows the test accuracy and confusion matrix of classify.get, which agree with the planted labels', async () => {
    const client = await web.client()
    const state = await client.call('classify.get', { runId })
    const test = state.train!.test
    expect(test.images).toBe(CLASSES * TEST_PER_CLASS)
    await expect.poll(() => page.getByTestId('cls-test-accuracy').textContent()).toBe(`${(100 * test.accuracy).toFixed(2)}%`)
    const shown: number[][] = []
    for (let t = 0; t < CLASSES; t++) {
      shown.push((await page.locator(`[data-testid="cls-confusion"] td[data-true="${t}"]`).allTextContents()).map((s) => Number(s.trim())))
    }
    expect(shown).toEqual(test.confusion)
    // Independently: every row holds its class's labelled images, and the bars are so clear that the
    // model predicts the bar's class — so a mislabelled image sits at (label, bar class), the rest on
    // the diagonal.
    const expected = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0))
    for (let i = 0; i < testLabels.length; i++) expected[testLabels[i]!]![i % CLASSES]!++
    expect(shown).toEqual(expected)
    expect(test.accuracy).toBeCloseTo((testLabels.length - MISLABELLED.length) / testLabels.length, 12)
  })

  it('draws the misclassified test images with their planted pixels, true and predicted class', async () => {
    const items = page.getByTestId('cls-misclassified').locator('li')
    await expect.poll(() => items.count()).toBe(MISLABELLED.length)
    for (const i of MISLABELLED) {
      const item = page.locator(`[data-testid="cls-misclassified"] li[data-index="${i}"]`)
      await item.getByText(`true ${testLabels[i]}`).waitFor()
      await item.getByText(`predicted ${i % CLASSES}`).waitFor()
      const img = item.locator('img')
      await img.waitFor()
      // The <img>'s pixels, read back through a canvas, are the planted image's gray bytes.
      const gray = await drawnGray(img)
      expect(gray).toEqual({ w: SIDE, h: SIDE, gray: Array.from(testPixels.subarray(i * SIDE * SIDE, (i + 1) * SIDE * SIDE)), same: true })
    }
    await page.getByTestId('cls-misclassified').scrollIntoViewIfNeeded()
    await app.shot('cls-04-misclassified')
  })

  it('classifies a PNG of a planted class-2 image as class 2', async () => {
    const px = plantedImage(2, new Rng(99))
    const png = new PNG({ width: SIDE, height: SIDE })
    for (let p = 0; p < SIDE * SIDE; p++) png.data.set([px[p]!, px[p]!, px[p]!, 255], 4 * p)
    const file = join(cleanup[0]!, 'class2.png')
    writeFileSync(file, PNG.sync.write(png))
    await page.getByTestId('cls-predict-file').setInputFiles(file)
    await expect.poll(() => page.getByTestId('cls-predicted').textContent()).toBe('2')
    const bars = page.getByTestId('predictions').locator('li')
    await expect.poll(() => bars.count()).toBe(CLASSES)
    await expect.poll(() => bars.first().getAttribute('data-token-id')).toBe('2')
    await page.getByTestId('cls-predicted').scrollIntoViewIfNeeded()
    await app.shot('cls-05-predict')
  })

  it('links a μMoE mixer to its expert view and lists the run with its test accuracy', async () => {
    await expect.poll(() => page.getByTestId('cls-experts-link').getAttribute('href')).toBe(`#/classifiers/experts?run=${runId}`)
    const client = await web.client()
    const accuracy = (await client.call('classify.get', { runId })).train!.test.accuracy
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Classifiers/ }).click()
    const row = page.locator(`[data-testid="cls-run-row"][data-run="${runId}"]`)
    await expect.poll(() => row.getByTestId('cls-run-accuracy').textContent()).toBe(`${(100 * accuracy).toFixed(2)}%`)
    await row.getByText('succeeded').waitFor()
    await row.scrollIntoViewIfNeeded()
    await app.shot('cls-06-runs')
    expect(app.pageErrors).toEqual([])
  })

  it('evaluates the classifier on a second planted set from its results and shows classify.get’s evaluation', async () => {
    // Another seed's images; test image 5 mislabelled, so one misclassified example is expected.
    const otherDir = writePlantedIdx(join(cleanup[0]!, 'planted-b'), { train: 4, test: TEST_PER_CLASS, seed: 11 })
    const labelsFile = join(otherDir, 't10k-labels-idx1-ubyte')
    const labels = readFileSync(labelsFile)
    labels[8 + 5] = (labels[8 + 5]! + 1) % CLASSES
    writeFileSync(labelsFile, labels)
    const client = await web.client()
    const other = await client.call('images.add', { path: otherDir })
    await page.goto(`${web.url}#/runs/${runId}`)
    await page.locator('#cls-eval-dataset').selectOption(String(other.id))
    await page.locator('#cls-eval-split').selectOption('test')
    await page.getByTestId('cls-evaluate').scrollIntoViewIfNeeded()
    await app.shot('cls-07-evaluate-on')
    await page.getByTestId('cls-evaluate').click()
    await page.waitForURL(new RegExp(`#/runs/(?!${runId}$)\\d+$`))
    const evalId = Number(/runs\/(\d+)$/.exec(page.url())![1])
    await expect.poll(() => page.getByTestId('run-status').getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded')
    await page.getByTestId('cls-eval-accuracy').waitFor()
    const state = await client.call('classify.get', { runId: evalId })
    expect(state.kind).toBe('classify-eval')
    expect(state.config).toMatchObject({ trainRunId: runId, dataset: other.id, split: 'test' })
    const ev = state.evaluation!
    expect(ev.dataset).toEqual({ id: other.id, name: other.name, split: 'test' })
    expect(await page.getByTestId('cls-eval-accuracy').textContent()).toBe(`${(100 * ev.accuracy).toFixed(2)}%`)
    const shown: number[][] = []
    for (let t = 0; t < CLASSES; t++) {
      shown.push((await page.locator(`[data-testid="cls-confusion"] td[data-true="${t}"]`).allTextContents()).map((s) => Number(s.trim())))
    }
    expect(shown).toEqual(ev.confusion)
    const expected = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0))
    for (let i = 0; i < CLASSES * TEST_PER_CLASS; i++) expected[labels[8 + i]!]![i % CLASSES]!++
    expect(shown).toEqual(expected)
    // The one misclassified image is the second set's test image 5, drawn from that set.
    const item = page.locator('[data-testid="cls-misclassified"] li[data-index="5"]')
    await item.locator('img').waitFor()
    await expect.poll(() => page.getByTestId('cls-misclassified').locator('li').count()).toBe(1)
    const otherPixels = readFileSync(join(otherDir, 't10k-images-idx3-ubyte')).subarray(16)
    expect(await drawnGray(item.locator('img'))).toEqual({ w: SIDE, h: SIDE, gray: Array.from(otherPixels.subarray(5 * SIDE * SIDE, 6 * SIDE * SIDE)), same: true })
    await page.getByTestId('cls-eval-result').scrollIntoViewIfNeeded()
    await app.shot('cls-08-eval')
    expect(app.pageErrors).toEqual([])
  })
})
