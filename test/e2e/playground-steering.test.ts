/// <reference lib="dom" />
// Steering side by side in web mode: a real `mxd web` on a store holding a transcoder for the
// bundled demo model with a planted unit that promotes " LORD" (test/unit/steering/planted.ts),
// the built renderer in Debian's Chromium. The agreed link /playground?layer=RUN&steer=… picks the
// layer's model, splices the layer and fills the rows; Compare generates both columns with the
// same seeds, and each column's text is what `mxd generate` writes with those settings. Presets
// are saved from the form and the built-in one cannot be deleted. Screenshots:
// test-results/screenshots/steer-*.png.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerDataset } from '../../src/data/registry.js'
import { initBackend } from '../../src/engine/backend.js'
import { Store } from '../../src/store/store.js'
import { openApp, type AppPage } from '../helpers/app-page.js'
import { mxd } from '../helpers/mxd-cli.js'
import { DEMO, runIndex, writeCorpus } from '../unit/features/helpers.js'
import { plantTokenUnit } from '../unit/steering/planted.js'

const U = 2
const OTHER = 5
let app: AppPage
let storeDir: string
let layerRunId: number

beforeAll(async () => {
  await initBackend()
  const dir = mkdtempSync(join(tmpdir(), 'mxd-steer-ui-'))
  storeDir = join(dir, 'store')
  const store = new Store({ dir: storeDir })
  try {
    const ds = await registerDataset(store.db, writeCorpus(dir), { heldOutFraction: 0.5 })
    ;({ layerRunId } = plantTokenUnit(store, dir, { unit: U, width: 8, block: 3, token: ' LORD' }))
    await runIndex({ store, dir, datasetId: ds.id }, layerRunId, { tokens: 128, ctx: 32 })
  } finally {
    store.close()
  }
  app = await openApp({ store: storeDir, fullPage: true, cleanup: [dir] })
}, 300_000)

afterAll(async () => {
  await app?.close()
})

const cliText = async (seed: number, steer: string | null): Promise<string> => {
  const r = await mxd([
    'generate', '--model', DEMO, '--prompt', 'And the', '--max-tokens', '12', '--temperature', '1', '--top-k', '0', '--top-p', '0.95',
    '--seed', String(seed), '--store', storeDir, '--splice', String(layerRunId), ...(steer ? ['--steer', steer] : []), '--json',
  ])
  expect(r.code, r.stderr).toBe(0)
  return (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { text: string }).text
}

describe('the Playground steers side by side', () => {
  it('opens /playground?layer=…&steer=…, compares original and steered with the same seeds, saves a preset', async () => {
    const { page, web, shot } = app
    await page.goto(web.url)
    // A link whose steering cannot be read says so, and what to do.
    await page.goto(`http://127.0.0.1:${web.port}/#/playground?layer=${layerRunId}&steer=two:100`)
    await expect.poll(() => page.getByTestId('pg-link-error').textContent()).toMatch(/“two:100” is not UNIT:VALUE,… .*enter the units below/)
    await page.goto(`http://127.0.0.1:${web.port}/#/`)
    await page.goto(`http://127.0.0.1:${web.port}/#/playground?layer=${layerRunId}&steer=${U}:100,${OTHER}`)
    // The layer's model (the bundled demo model) is chosen and the layer spliced; the rows filled.
    await expect.poll(() => page.getByTestId('pg-model').locator('option:checked').textContent(), { timeout: 60_000 }).toMatch(/kjv-gpt2-mini/i)
    await expect.poll(() => page.getByTestId('pg-layer').locator('option:checked').textContent(), { timeout: 60_000 }).toContain(`Run #${layerRunId}`)
    const units = page.getByTestId('pg-steer-unit')
    const values = page.getByTestId('pg-steer-value')
    await expect.poll(() => units.count()).toBe(2)
    expect([await units.nth(0).inputValue(), await values.nth(0).inputValue(), await units.nth(1).inputValue(), await values.nth(1).inputValue()]).toEqual([
      String(U), '100', String(OTHER), '100',
    ])
    expect(await page.getByTestId('pg-link-error').count()).toBe(0)
    await values.nth(1).fill('-40')

    await page.getByTestId('pg-prompt').fill('And the')
    await page.getByTestId('pg-max-tokens').fill('12')
    await page.getByTestId('pg-temperature').fill('1')
    await page.locator('#pg-topk').fill('0')
    await page.locator('#pg-topp').fill('0.95')
    await page.getByTestId('pg-seed-random').uncheck()
    await page.getByTestId('pg-seed').fill('3')
    await page.getByTestId('pg-samples').fill('2')
    await page.getByTestId('pg-compare-run').click()
    const original = page.getByTestId('pg-original')
    const steered = page.getByTestId('pg-steered')
    await expect.poll(() => original.count()).toBe(2)
    // Done when no cell waits for its text any more.
    await expect.poll(async () => (await page.getByTestId('pg-compare-columns').textContent())!.includes('…'), { timeout: 120_000 }).toBe(false)
    expect(await page.getByTestId('pg-compare-steers').textContent()).toMatch(new RegExp(`${U} \\+100, .*${OTHER} -40`))
    await page.getByTestId('pg-compare-columns').scrollIntoViewIfNeeded()
    await shot('steer-01-side-by-side')

    // Each cell is `mxd generate` with that seed: without steering, and with both units.
    const cellText = async (cell: ReturnType<typeof original.nth>): Promise<string> => (await cell.textContent())!.replace(/^seed \d+And the/, '')
    for (const i of [0, 1]) {
      expect(await original.nth(i).textContent()).toContain(`seed ${3 + i}`)
      expect(await cellText(original.nth(i))).toBe(await cliText(3 + i, null))
      expect(await cellText(steered.nth(i))).toBe(await cliText(3 + i, `${U}=100,${OTHER}=-40`))
    }
    expect(await cellText(steered.nth(0))).toContain('LORD')
    expect(await cellText(steered.nth(0))).not.toBe(await cellText(original.nth(0)))

    // Presets: the form saved under a name; the paper's preset stays and cannot be deleted.
    await page.getByTestId('pg-preset-name').fill('Two units')
    await page.getByTestId('pg-preset-save').click()
    await expect.poll(() => page.getByTestId('pg-preset').locator('option:checked').textContent()).toBe('Two units')
    const client = await web.client()
    const presets = await client.call('steering.listPresets', {})
    client.close()
    expect(presets.map((p) => p.name)).toEqual([presets[0]!.name, 'Two units'])
    expect(presets[1]!.settings).toMatchObject({ prompt: 'And the', steer: [{ unit: U, value: 100 }, { unit: OTHER, value: -40 }], samples: 2, seed: 3, maxTokens: 12 })

    // The rows' units scored with the chosen preset (the one just saved: 2 seeds a side).
    await page.getByTestId('pg-score-run').click()
    const scoreRows = page.locator('[data-testid="pg-score-table"] tbody tr')
    await expect.poll(() => scoreRows.count(), { timeout: 180_000 }).toBe(2)
    const c2 = await web.client()
    const scoreRun = (await c2.call('runs.list', { kind: 'steer-score' }))[0]!
    const score = await c2.call('steering.getScore', { runId: scoreRun.id })
    c2.close()
    expect(score.settings.samples).toBe(2)
    expect(score.units.map((u) => u.unit)).toEqual([U, OTHER])
    expect(score.units[0]!.score).toBeGreaterThan(0.3)
    expect(await scoreRows.nth(0).locator('td').nth(4).textContent()).toBe((100 * score.units[0]!.score).toFixed(1))
    await page.getByTestId('pg-score-table').scrollIntoViewIfNeeded()
    await shot('steer-03-score')

    await page.getByTestId('pg-preset').selectOption({ index: 0 })
    expect(await page.getByRole('button', { name: 'Delete' }).isDisabled()).toBe(true)
    await page.getByTestId('pg-preset-apply').click()
    await expect.poll(() => page.getByTestId('pg-prompt').inputValue()).toBe("Let's talk about ")
    expect(await page.getByTestId('pg-samples').inputValue()).toBe('10')
    expect(app.pageErrors).toEqual([])
  })
})
