/// <reference lib="dom" />
// The app shell end to end: real `mxd web` on a temp store, the built renderer in Debian's
// Chromium. Starts the backend benchmark from the UI, watches its live progress, finds it in
// the Runs list and checks its detail page (metrics, chart), the theme toggle and the
// token errors. Screenshots of each step land in test-results/screenshots/.
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openApp, type AppPage } from '../helpers/app-page.js'
import { repoRoot, type WebProcess } from '../helpers/web-process.js'
import type { JobProgress } from '../../src/shared/api.js'

// Big enough that the wasm backend (≈16–25 GFLOP/s here) takes a few seconds: ≈85 GFLOP.
const SIZES = [512, 768, 1024, 1536]
const REPEATS = 8

let app: AppPage
let web: WebProcess
let browser: Browser
let context: BrowserContext
let page: Page
let runId = 0

const shot = (name: string, p?: Page): Promise<void> => app.shot(name, p)

beforeAll(async () => {
  app = await openApp({ viewport: { width: 1280, height: 820 } })
  ;({ web, browser, context, page } = app)
})

afterAll(async () => {
  await app?.close()
})

describe('app shell in web mode', () => {
  it('opens with the token: sidebar, start page, status bar', async () => {
    await page.goto(web.url)
    await page.getByRole('heading', { name: 'Welcome to MxD Studio', level: 1 }).waitFor()
    const nav = page.getByRole('navigation', { name: 'Main' })
    for (const name of ['Models', 'Convert', 'Runs', 'Benchmark', 'Features', 'Privacy']) {
      await expect.poll(() => nav.getByRole('link', { name: new RegExp(name) }).count()).toBe(1)
    }
    // The token is dropped from the address bar once read.
    expect(page.url()).not.toContain('token=')
    const status = page.getByRole('contentinfo', { name: 'Status bar' })
    await status.getByText(/Backend: (wasm|cpu|tensorflow)/).waitFor()
    await expect.poll(() => page.getByTestId('status-transport').textContent()).toBe('Web')
    await status.getByText(web.store).waitFor()
    // "+ native CPU kernels" exactly when the back end reports native kernels loaded (the README's
    // set-up builds them; a machine without OpenBLAS runs on plain wasm and shows nothing).
    const native = (await (await web.client()).call('app.diagnose', {})).nativeKernels.kernels.length > 0
    await expect.poll(() => page.getByTestId('status-native').count()).toBe(native ? 1 : 0)
    await page.getByText('No runs yet.').waitFor()
    await shot('01-runs-empty')
  })

  it('shows what a coming page will do', async () => {
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: /Convert/ })
      .click()
    await page.getByRole('heading', { name: 'Convert', level: 1 }).waitFor()
    await page.getByText('Mixture of Decoders').first().waitFor()
    await shot('02-convert-coming')
  })

  it('validates the benchmark form before asking the back end', async () => {
    await page
      .getByRole('link', { name: /Benchmark/ })
      .first()
      .click()
    await page.getByRole('heading', { name: 'Benchmark backend' }).waitFor()
    await expect.poll(() => page.getByTestId('bench-sizes').inputValue()).toBe('128, 256, 512, 1024')
    await expect.poll(() => page.getByTestId('bench-repeats').inputValue()).toBe('5')
    await page.getByTestId('bench-sizes').fill('64, abc')
    await page.getByTestId('bench-repeats').fill('0')
    await page.getByTestId('bench-start').click()
    // The form's rules are the schema's (BenchBackendConfig), read by the renderer's one number parser.
    await page.getByText('Matrix size must be a number, not “abc”.').waitFor()
    await page.getByText('Repeats must be at least 1.').waitFor()
    await expect.poll(() => page.getByTestId('bench-sizes').getAttribute('aria-invalid')).toBe('true')
    await page.getByTestId('bench-sizes').fill('64, 5000')
    await page.getByText('Matrix size must be at most 4,096.').waitFor()
    await shot('03-benchmark-invalid')
    // Nothing was started.
    const client = await web.client()
    await expect(client.call('runs.list', {})).resolves.toEqual([])
    client.close()
  })

  it('starts the benchmark from the UI and streams its progress to the end', async () => {
    await page.getByTestId('bench-sizes').fill(SIZES.join(', '))
    await page.getByTestId('bench-repeats').fill(String(REPEATS))
    await page.getByText(/Total work: .*GFLOP/).waitFor()
    await shot('04-benchmark-form')
    // Progress is read from the event stream the UI itself listens to, not from the status bar's
    // progress bar: that element exists only while the job runs, so reading it assumes a slow
    // back end (and a count() then getAttribute() on it races its removal).
    const events = await web.client()
    const progress: JobProgress[] = []
    events.subscribe((e) => {
      if (e.event === 'job.progress') progress.push(e.data)
    })
    await page.getByTestId('bench-start').click()
    await page.waitForURL(/#\/runs\/\d+$/)
    runId = Number(/#\/runs\/(\d+)$/.exec(page.url())![1])
    expect(runId).toBeGreaterThan(0)
    await shot('05-run-detail-running') // running or already done: the back end's speed decides
    await page.locator('[data-testid="run-status"][data-status="succeeded"]').waitFor({ timeout: 170_000 })
    events.close()
    // What is guaranteed however fast the back end is: progress never goes back and ends with every
    // matmul done.
    const mine = progress.filter((p) => p.runId === runId)
    expect(mine.length, 'progress events of the run').toBeGreaterThanOrEqual(1)
    for (let i = 1; i < mine.length; i++) expect(mine[i]!.fraction).toBeGreaterThanOrEqual(mine[i - 1]!.fraction)
    expect(mine.at(-1)).toMatchObject({ fraction: 1, done: SIZES.length * REPEATS, total: SIZES.length * REPEATS, unit: 'matmuls' })
  })

  it('lists the run as succeeded in the Runs table', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Runs/ }).click()
    const row = page.locator(`tr[data-run-id="${runId}"]`)
    await row.waitFor()
    await row.locator('[data-status="succeeded"]').waitFor()
    await expect.poll(() => row.textContent()).toContain('Backend benchmark')
    // The status bar's job is gone once the run ended.
    await page.getByText('No job running').waitFor()
    await shot('06-runs-list')
    // Keyboard: the row is in the tab order and shows a focus ring.
    await page.locator(`tr[data-run-id="${runId}"]`).focus()
    await page.keyboard.press('Shift+Tab')
    await page.keyboard.press('Tab')
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-run-id'))).toBe(String(runId))
    await shot('06b-runs-row-focus')
  })

  it('opens the run detail from the keyboard and shows the GFLOP/s per size and a chart', async () => {
    await page.locator(`tr[data-run-id="${runId}"]`).focus()
    await page.keyboard.press('Enter')
    await page.waitForURL(new RegExp(`#/runs/${runId}$`))
    const table = page.getByTestId('metrics-table')
    await table.waitFor()
    await expect.poll(() => table.locator('thead').textContent()).toContain('GFLOP/s')
    const steps = await table.locator('tbody tr td:first-child').allTextContents()
    expect(steps.map(Number)).toEqual(SIZES)
    const gflops = (await table.locator('td[data-metric="gflops"]').allTextContents()).map((t) => Number(t.replace(/,/g, '')))
    expect(gflops).toHaveLength(SIZES.length)
    for (const g of gflops) expect(g).toBeGreaterThan(0)

    const chart = page.locator('[data-metric="gflops"].chart-card svg[role="img"]')
    await chart.waitFor()
    const d = await chart.locator('g.series path').getAttribute('d')
    expect(d).toMatch(/^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+){3}$/)
    await expect.poll(() => chart.locator('g.series circle').count()).toBe(SIZES.length)
    const ticks = await chart.locator('g.axis text').allTextContents()
    for (const s of SIZES) expect(ticks).toContain(s.toLocaleString('en-US'))
    await page.getByRole('heading', { name: 'Checkpoints' }).waitFor()
    await page.getByRole('list', { name: 'Run log' }).getByText('GFLOP/s').first().waitFor()

    // Hover shows the value under the pointer.
    const box = (await chart.boundingBox())!
    await page.mouse.move(box.x + box.width - 30, box.y + box.height / 2)
    await page
      .locator('.chart-card[data-metric="gflops"] .tooltip')
      .getByText(/Matrix size n: 1,536/)
      .waitFor()
    await shot('07-run-detail')
    await page.getByRole('heading', { name: 'Metrics' }).scrollIntoViewIfNeeded()
    await page.locator('.content').evaluate((el) => el.scrollTo(0, el.scrollHeight))
    await shot('08-run-detail-bottom')
  })

  it('toggles the dark theme, which changes the CSS variables and is remembered', async () => {
    const bg = (): Promise<string> => page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--bg').trim())
    const before = await bg()
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('light')
    await page.getByTestId('theme-toggle').click()
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
    const after = await bg()
    expect(after).not.toBe(before)
    await page.locator('.content').evaluate((el) => el.scrollTo(0, 0))
    await shot('09-run-detail-dark')
    await page.reload()
    await page.getByTestId('metrics-table').waitFor()
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Runs/ }).click()
    await page.locator(`tr[data-run-id="${runId}"]`).waitFor()
    await shot('10-runs-dark')
    await page.getByTestId('theme-toggle').click()
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('light')
  })

  it('cancels a running run and resumes it from the Runs table', async () => {
    const client = await web.client()
    // ≈ 20 TFLOP: hours here, minutes on a back end 100× faster, so the run is still going when
    // Cancel is clicked (a finished run has no Cancel button to click).
    const { runId: id } = await client.call('bench.start', { sizes: [1024, 1536, 2048], repeats: 1000 })
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Runs/ }).click()
    const row = page.locator(`tr[data-run-id="${id}"]`)
    await row.locator('[data-status="running"]').waitFor()
    await row.getByRole('progressbar').waitFor()
    await row.getByRole('button', { name: 'Cancel' }).click()
    await row.locator('[data-status="cancelled"]').waitFor()
    await shot('11-runs-cancelled')
    await row.getByRole('button', { name: 'Resume' }).click()
    await row.locator('[data-status="running"], [data-status="queued"]').first().waitFor()
    await row.getByRole('button', { name: 'Resume' }).waitFor({ state: 'detached' })
    // Do not leave it running for the rest of the file.
    await client.call('jobs.cancel', { id })
    await row.locator('[data-status="cancelled"]').waitFor()
    client.close()
  })

  it('a page without the token gets the 401 message', async () => {
    const fresh = await browser.newContext()
    const p = await fresh.newPage()
    const res = await p.goto(`http://127.0.0.1:${web.port}/`)
    expect(res?.status()).toBe(401)
    await expect.poll(() => p.textContent('body')).toContain('needs the per-launch token')
    await shot('12-no-token-401', p)
    await fresh.close()
  })

  it('a new tab of the same browser gets in with the session cookie, without the token in its URL', async () => {
    const p = await context.newPage()
    await p.goto(`http://127.0.0.1:${web.port}/#/runs`)
    await p.getByRole('heading', { name: 'Runs' }).waitFor()
    await p.close()
  })

  it('shows a full-page error with the fix when the app cannot connect', async () => {
    // The built page served with no back end behind it: its socket has nowhere to go.
    const p = await context.newPage()
    const outRenderer = join(repoRoot, 'out/renderer')
    await p.route('http://mxd.invalid/**', (route) => {
      const path = new URL(route.request().url()).pathname
      return route.fulfill({ path: join(outRenderer, path === '/' ? 'index.html' : path) })
    })
    await p.goto('http://mxd.invalid/?token=abc#/runs')
    await p.getByRole('heading', { name: 'Cannot reach the MxD Studio back end' }).waitFor()
    await p.getByText('per-launch token').first().waitFor()
    await p.getByRole('button', { name: 'Try again' }).waitFor()
    await shot('13-connect-error', p)
    await p.close()
  })

  it('raised no page errors', () => {
    expect(app.pageErrors).toEqual([])
  })
})
