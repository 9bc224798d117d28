/// <reference lib="dom" />
// The Privacy feature's whole flow in web mode: real `mxd web` on a temp store, the built renderer
// in Debian's Chromium, the planted 8×8 IDX set (class names with HTML's special characters) and a
// logistic regression trained through the API. Through the wizard:
// - the certified method (θ, λ, the loss, C, ε, δ typed into the form) on 6 images of one class;
//   the run page waits for the run's end (the result appears when the run's status changes), then
//   shows what privacy.get answers: σ, Δ, ε, every constant with its provenance badge, the models'
//   forget distance and accuracies, the usefulness note; Verify shows pass and each check, and the
//   certificate is 'verified' in privacy.listCertificates and in the page's certificates list; the
//   report opens in a sandboxed frame and downloads as report.html, the file privacy.getReport
//   reads, with σ as the page writes it and the class names escaped.
// - Pareto fine-tuning with a θ sweep: the before/after histograms' bar counts equal privacy.get's
//   ConfidenceSummary counts, and the trade-off table has one row per θ.
// Screenshots land in test-results/screenshots/privacy-flow-*.png.
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MxdClient } from '../../src/shared/api.js'
import type { ConfidenceSummary, PrivacyRunState } from '../../src/shared/privacy.js'
import { openApp, SHOTS, type AppPage } from '../helpers/app-page.js'
import { waitFor } from '../helpers/wait.js'
import type { WebProcess } from '../helpers/web-process.js'
import { writePlantedIdx } from '../unit/classify/planted.js'

/** Class names a report must escape. */
const CLASS_NAMES = ['bar <0>', 'bar & 1', 'bar "2"', "bar '3'"]
const ESCAPED = ['bar &lt;0&gt;', 'bar &amp; 1', 'bar &quot;2&quot;', 'bar &#39;3&#39;']

let app: AppPage
let web: WebProcess
let page: Page
let client: MxdClient
const cleanup: string[] = []
let logreg = 0
let certRun = 0

const text = async (p: Page, testid: string): Promise<string> =>
  ((await p.getByTestId(testid).textContent()) ?? '').replace(/\s+/g, ' ').trim()
/** A screenshot of one part of the page (the window is tall enough to paint it whole). */
const shotOf = (part: Locator, name: string): Promise<Buffer> => part.screenshot({ path: join(SHOTS, `${name}.png`) })
/** A figure as the page writes it, read back (independent of the page's formatter). */
const near = (shown: string, value: number): void => {
  const n = Number(shown)
  expect(Number.isFinite(n), `"${shown}" is a number`).toBe(true)
  expect(Math.abs(n - value)).toBeLessThanOrEqual(Math.abs(value) * 1e-5 + 1e-12)
}

async function ended(runId: number): Promise<string> {
  return waitFor(
    `run ${runId} to end`,
    async () => {
      const s = (await client.call('runs.get', { id: runId })).run.status
      return s === 'queued' || s === 'running' ? undefined : s
    },
    { timeoutMs: 300_000, intervalMs: 200 },
  )
}

/** Starts the wizard on the Privacy page with the logistic regression chosen and class 1 protected (6 images). */
async function wizardToMethod(): Promise<void> {
  await page.goto(`${web.url}#/privacy`)
  await page.getByRole('heading', { name: 'Privacy', level: 1 }).waitFor()
  await page.getByTestId('privacy-wizard-goto-classifier').click()
  await page.getByTestId('privacy-classifiers').locator(`tr[data-run="${logreg}"] input`).check()
  await page.getByTestId('privacy-wizard-next').click()
  await page.getByTestId('privacy-wizard-step-protect').waitFor()
  await page.getByTestId('privacy-by-class').click()
  await page.getByTestId('privacy-class').selectOption({ index: 2 }) // option 0 is "Pick a class": class 1
  await page.getByTestId('privacy-count').fill('6')
  await expect.poll(() => text(page, 'privacy-preview')).toContain('6 protected')
  await page.getByTestId('privacy-wizard-next').click()
  await page.getByTestId('privacy-wizard-step-method').waitFor()
}

/** Review → Start; the run page it opens, and the run's id from its address. */
async function startFromReview(): Promise<number> {
  await page.getByTestId('privacy-wizard-next').click()
  await page.getByTestId('privacy-review').waitFor()
  await page.getByTestId('privacy-wizard-start').click()
  await page.waitForURL(/#\/runs\/\d+$/)
  return Number(/#\/runs\/(\d+)$/.exec(page.url())![1])
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mxd-privacy-flow-'))
  cleanup.push(dir)
  const dataDir = writePlantedIdx(join(dir, 'planted'), { train: 40, test: 10 })
  // A window tall enough for a whole result: the app scrolls inside its main pane, where a part
  // below the window is not painted for a screenshot.
  app = await openApp({ cleanup, viewport: { width: 1280, height: 4200 } })
  ;({ web, page } = app)
  cleanup.push(web.store)
  client = await web.client()
  const ds = await client.call('images.add', { path: dataDir, classNames: CLASS_NAMES })
  const { runId } = await client.call('classify.start', {
    data: ds.id,
    model: 'logreg',
    epochs: 4,
    batch: 16,
    seed: 1,
    optimizer: { kind: 'adamw', lr: 0.01 },
  })
  expect(await ended(runId)).toBe('succeeded')
  logreg = runId
}, 600_000)

afterAll(async () => {
  await app?.close()
})

describe('Privacy flow in web mode', () => {
  let state: PrivacyRunState
  it('issues a certificate through the wizard and shows exactly what privacy.get answers', async () => {
    await wizardToMethod()
    await page.getByTestId('privacy-method-certify').click()
    await page.getByTestId('privacy-theta').fill('0.75')
    await page.getByTestId('privacy-lambda').fill('0.05')
    await page.locator('#pv-loss').selectOption('reverse-kl')
    await page.getByTestId('privacy-norm').fill('60')
    await page.getByTestId('privacy-epsilon').fill('1')
    await page.getByTestId('privacy-delta').fill('0.00001')
    certRun = await startFromReview()
    expect((await client.call('runs.get', { id: certRun })).run.kind).toBe('privacy-certify')
    // The result shows once the run page sees the run succeed (its status comes with run.changed).
    await page
      .getByTestId('privacy-sigma')
      .waitFor({ timeout: 300_000 })
      .catch(async (err: unknown) => {
        const run = (await client.call('runs.get', { id: certRun })).run
        throw new Error(`no σ on the run page (run ${certRun} is ${run.status}: ${run.error ?? ''}): ${String(err)}`)
      })
    state = await client.call('privacy.get', { runId: certRun })
    const cert = state.certify!
    expect(state.config).toMatchObject({
      objective: { theta: 0.75, lambda: 0.05, lossK: 'reverse-kl' },
      normBound: 60,
      epsilon: 1,
      delta: 1e-5,
    })
    expect(state.config.protect).toEqual({ by: 'class', class: 1, count: 6, seed: 0 })

    near(await text(page, 'privacy-sigma'), cert.sigma)
    const facts = page.locator('.fact-grid .fact')
    const fact = async (label: string): Promise<string> =>
      (
        (await facts
          .filter({ has: page.locator('dt', { hasText: new RegExp(`^${label}$`) }) })
          .locator('dd')
          .textContent()) ?? ''
      ).trim()
    near(await fact('ε'), cert.epsilon)
    near(await fact('δ'), cert.delta)
    near(await fact('Δ'), cert.sensitivity)

    const constants = page.getByTestId('privacy-constants').locator('tbody tr')
    expect(await constants.count()).toBe(Object.keys(cert.constants).length)
    for (const [name, c] of Object.entries(cert.constants)) {
      const row = constants.filter({ has: page.locator('th', { hasText: new RegExp(`^${name}$`) }) })
      const cells = await row.locator('td').allTextContents()
      near(cells[0]!.trim(), c.value)
      expect(cells[1]!.trim()).toBe(c.provenance)
      expect(cells[2]!.trim()).toBe(c.method)
    }

    // The models: w*, w⁻, w̃ with their forget distance and accuracies.
    const models = await page.getByTestId('privacy-models').locator('tbody tr').all()
    expect(models.length).toBe(3)
    for (const [row, report] of models.map((r, i) => [r, [cert.before, cert.newtonModel, cert.released][i]!] as const)) {
      const cells = (await row.locator('td').allTextContents()).map((t) => t.trim())
      near(cells[0]!, report.forget.distance)
      expect(cells[1]).toBe(`${(100 * report.forget.accuracy).toFixed(2)}%`)
      expect(cells[2]).toBe(`${(100 * report.retainAccuracy).toFixed(2)}%`)
      expect(cells[4]).toBe(`${(100 * report.testAccuracy).toFixed(2)}%`)
    }
    // With honest constants σ is far too large for the released model to be of use, and the page says so.
    expect(cert.sigma).toBeGreaterThan(1e6)
    expect(cert.useful).toBe(false)
    expect(await text(page, 'privacy-useless')).toContain(cert.usefulness.note.replace(/\s+/g, ' ').trim())
    await shotOf(page.getByTestId('privacy-result'), 'privacy-flow-01-certificate')
    expect(app.pageErrors.filter((e) => e.startsWith('pageerror'))).toEqual([])
  })

  it('verifies the certificate from the run page: pass, each check, and the certificate is verified', async () => {
    const cert = state.certify!
    await page.getByTestId('privacy-verify').click()
    await page.getByTestId('privacy-verify-result').waitFor({ timeout: 300_000 })
    expect(await text(page, 'privacy-verify-result')).toContain('Every check passed')
    const verifyRun = (await client.call('runs.list', { kind: 'privacy-verify' }))[0]!
    const verified = (await client.call('privacy.get', { runId: verifyRun.id })).verify!
    expect(verified.pass).toBe(true)
    const checks = page.getByRole('table', { name: 'Verification checks' }).locator('tbody tr')
    expect(await checks.count()).toBe(verified.checks.length)
    for (const [i, c] of verified.checks.entries()) {
      expect((await checks.nth(i).locator('th').textContent())?.trim()).toBe(c.name)
      expect((await checks.nth(i).locator('td').last().textContent())?.trim()).toBe('pass')
    }
    const listed = (await client.call('privacy.listCertificates', {})).find((c) => c.id === cert.certificateId)!
    expect(listed.status).toBe('verified')
    await shotOf(page.getByTestId('privacy-result'), 'privacy-flow-02-verified')

    await page.goto(`${web.url}#/privacy`)
    const row = page.getByTestId('privacy-certificate-row').filter({ hasText: `#${cert.certificateId} (run ${certRun})` })
    await expect.poll(async () => (await row.locator('td').nth(1).textContent())?.trim()).toBe('verified')
    near((await row.locator('td').nth(5).textContent())!.trim(), cert.sigma)
    await shotOf(page.getByTestId('privacy-certificates'), 'privacy-flow-03-certificates')
  })

  it('opens the report in a sandboxed frame and downloads report.html as privacy.getReport reads it', async () => {
    const cert = state.certify!
    await page.goto(`${web.url}#/runs/${certRun}`)
    const sigmaShown = await page
      .getByTestId('privacy-sigma')
      .textContent()
      .then((t) => t!.trim())
    await page.getByTestId('privacy-report-open').click()
    const frame = page.getByTestId('privacy-report-frame')
    await frame.waitFor()
    expect(await frame.getAttribute('sandbox')).toBe('')
    const inFrame = page.frameLocator('[data-testid="privacy-report-frame"]')
    await expect.poll(async () => (await inFrame.locator('body').textContent()) ?? '').toContain(sigmaShown)
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('privacy-report-download').click()])
    expect(download.suggestedFilename()).toBe(`certificate-${cert.certificateId}-report.html`)
    const html = readFileSync((await download.path())!, 'utf8')
    const served = await client.call('privacy.getReport', { certificateId: cert.certificateId })
    expect(html).toBe(served.html)
    expect(served.dir).toBe(cert.dir)
    expect(html).toContain(`σ = ${sigmaShown}`)
    for (const e of ESCAPED) expect(html).toContain(e)
    for (const raw of CLASS_NAMES.slice(0, 3)) expect(html).not.toContain(raw)
    await shotOf(frame, 'privacy-flow-04-report')
    expect(app.pageErrors).toEqual([])
  })

  it('fine-tunes through the wizard with a θ sweep: histograms and the trade-off table as privacy.get answers', async () => {
    await wizardToMethod()
    await page.getByTestId('privacy-method-finetune').click()
    await page.getByTestId('privacy-theta').fill('0.9')
    await page.getByTestId('privacy-lambda').fill('0.001')
    await page.getByTestId('privacy-sweep').fill('0.5')
    await page.getByTestId('privacy-lr').fill('0.05')
    await page.getByTestId('privacy-epochs').fill('40')
    const runId = await startFromReview()
    await page
      .getByTestId('privacy-histogram')
      .first()
      .waitFor({ timeout: 300_000 })
      .catch(async (err: unknown) => {
        const run = (await client.call('runs.get', { id: runId })).run
        throw new Error(`no histogram on the run page (run ${runId} is ${run.status}: ${run.error ?? ''}): ${String(err)}`)
      })
    const ft = (await client.call('privacy.get', { runId })).finetune!
    expect(ft.after.forget.distance).toBeLessThan(ft.before.forget.distance)
    const bars = async (i: number): Promise<number[]> =>
      (await page.getByTestId('privacy-histogram').nth(i).locator('rect title').allTextContents()).map((t) =>
        Number(/: ([\d,]+) images$/.exec(t.trim())![1]!.replace(/,/g, '')),
      )
    const counts = (s: ConfidenceSummary): number[] => s.histogram.counts
    expect(await bars(0)).toEqual(counts(ft.before.forget))
    expect(await bars(1)).toEqual(counts(ft.after.forget))
    expect(counts(ft.before.forget).reduce((a, b) => a + b, 0)).toBe(6)

    const sweep = page.getByTestId('privacy-sweep').locator('tbody tr')
    expect(await sweep.count()).toBe(ft.sweep.length)
    const sorted = [...ft.sweep].sort((a, b) => a.theta - b.theta)
    expect(sorted.map((p) => p.theta)).toEqual([0.5, 0.9])
    for (const [i, p] of sorted.entries()) {
      const cells = (await sweep.nth(i).locator('td').allTextContents()).map((t) => t.trim())
      expect(Number(cells[0])).toBe(p.theta)
      near(cells[1]!, p.forgetDistance)
      expect(cells[2]).toBe(`${(100 * p.testAccuracy).toFixed(2)}%`)
      near(cells[3]!, p.retainLossChange)
      expect(cells[5]).toBe(p.boundNote)
    }
    await shotOf(page.getByTestId('privacy-result'), 'privacy-flow-05-finetune')
    expect(app.pageErrors.filter((e) => e.startsWith('pageerror'))).toEqual([])
  })
})
