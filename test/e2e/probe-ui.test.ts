/// <reference lib="dom" />
// The Probing page end to end in web mode: real `mxd web` on a temp store, the built renderer in
// Debian's Chromium. Two layers of the demo model's block 2 (a MxD and a TopK transcoder, seeded
// random weights, written as layer folders) are imported through the API; the page opens with
// ?run= preselecting one, the other is ticked, a probe of both on the shipped task (its first
// 120 verses: the page sends the whole file, so the runs are checked against the API's own
// results) is started from the page, and the comparison table and a run's per-label detail
// show the back end's numbers. Screenshots: test-results/screenshots/probe-*.png.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hookNames } from '../../src/engine/hooks.js'
import { modelFingerprint, saveLayerFolder } from '../../src/convert/layer-file.js'
import { initBackend } from '../../src/engine/backend.js'
import { createSparseLayer } from '../../src/engine/layers/kinds.js'
import type { ProbeList } from '../../src/shared/probe.js'
import { openApp, type AppPage } from '../helpers/app-page.js'
import { waitFor } from '../helpers/wait.js'
import { repoRoot } from '../helpers/web-process.js'

const DEMO = join(repoRoot, 'resources/models/kjv-gpt2-mini')
let app: AppPage
const layerRuns: number[] = []

beforeAll(async () => {
  await initBackend()
  const dir = mkdtempSync(join(tmpdir(), 'mxd-probe-ui-'))
  app = await openApp({ cleanup: [dir], fullPage: true })
  const client = await app.web.client()
  const kinds = [
    { kind: 'mxd', size: { dIn: 192, dOut: 192, width: 48, k: 8, hidden: 64, glu: false } },
    { kind: 'transcoder', size: { dIn: 192, dOut: 192, width: 96, k: 8, hidden: null, glu: false } },
  ]
  for (const { kind, size } of kinds) {
    const layer = createSparseLayer(kind, size, 7)
    const folder = join(dir, kind)
    saveLayerFolder(folder, layer, {
      hook_name: hookNames.ln2(2),
      hook_name_out: hookNames.mlpOut(2),
      layer: 2,
      model_name: 'kjv-gpt2-mini',
      model_hash: modelFingerprint(DEMO),
      training: { model: DEMO },
    })
    layer.dispose()
    layerRuns.push((await client.call('convert.import', { dir: folder })).runId)
  }
  client.close()
}, 120_000)

afterAll(async () => {
  await app?.close()
})

describe('Probing page in web mode', () => {
  it('starts a probe of two layers on the shipped task and shows the comparison table and per-label detail', async () => {
    const { page, shot } = app
    await page.goto(`${app.web.url}#/features/probe?run=${layerRuns[0]}`)
    await page.getByRole('heading', { name: 'Sparse probing', level: 1 }).waitFor()
    const first = page.getByTestId(`probe-layer-${layerRuns[0]}`).locator('input')
    const second = page.getByTestId(`probe-layer-${layerRuns[1]}`).locator('input')
    await expect.poll(() => first.isChecked()).toBe(true)
    expect(await second.isChecked()).toBe(false)
    await second.check()
    await expect.poll(() => page.locator('#probe-task').inputValue()).toBe(join(repoRoot, 'resources/tasks/kjv-sections.jsonl'))
    await page.getByText('No probe runs yet.').waitFor()
    await shot('probe-01-form')
    await expect.poll(() => page.getByTestId('probe-start').textContent()).toMatch(/Probe 2 layers/)
    await page.getByTestId('probe-start').click()

    // Both runs finish (watched through the API); the table then holds the back end's numbers.
    const client = await app.web.client()
    const list = await waitFor(
      'both probe runs',
      async () => {
        const l: ProbeList = await client.call('probe.list', {})
        const failed = l.runs.find((r) => r.status === 'failed' || r.status === 'cancelled')
        if (failed) throw new Error(`probe run ${failed.runId} ${failed.status}: ${failed.error}`)
        return l.runs.length === 2 && l.runs.every((r) => r.status === 'succeeded') ? l : undefined
      },
      { timeoutMs: 600_000, intervalMs: 500 },
    )
    expect(list.runs.map((r) => r.layerRunId).sort()).toEqual([...layerRuns].sort())
    const table = page.getByTestId('probe-table')
    for (const r of list.runs) {
      const row = page.getByTestId(`probe-row-${r.runId}`)
      await expect.poll(() => row.locator('td').nth(7).textContent()).toBe(r.meanF1!.toFixed(3))
      await expect.poll(() => row.locator('td').nth(8).textContent()).toBe(r.meanBalancedAccuracy!.toFixed(3))
      expect(await row.locator('td').nth(2).textContent()).toBe(r.kind === 'mxd' ? 'MxD' : 'TopK transcoder')
      expect(await row.locator('td').nth(4).textContent()).toBe('8')
      expect(await row.locator('td').nth(6).textContent()).toBe('kjv-sections.jsonl')
    }
    await table.waitFor()

    // A row opens its per-label detail: six labels, with the unit chosen on validation.
    const mxdRun = list.runs.find((r) => r.kind === 'mxd')!
    const state = await client.call('probe.get', { runId: mxdRun.runId })
    client.close()
    await page.getByTestId(`probe-row-${mxdRun.runId}`).click()
    const detail = page.getByTestId('probe-detail')
    await detail.waitFor()
    await expect.poll(() => detail.locator('tbody tr').count()).toBe(6)
    for (const [i, c] of state.result!.classes.entries()) {
      const cells = detail.locator('tbody tr').nth(i).locator('td')
      expect(await cells.nth(0).textContent()).toBe(c.label)
      expect((await cells.nth(1).textContent())?.trim()).toBe(String(c.unit))
      expect(await cells.nth(2).textContent()).toBe(c.test.f1.toFixed(3))
    }
    await shot('probe-02-table')
    expect(app.pageErrors).toEqual([])
  })
})
