/// <reference lib="dom" />
// The Models page and the Playground end to end: real `mxd web` on a temp store (and an empty
// Hugging Face cache), the built renderer in Debian's Chromium. Adds a tiny GPT-2 folder through
// the form (after a refused one), opens its layer table, generates in the Playground and watches
// the tokens arrive one by one, reads a token's top predictions, stops a long generation, and
// checks the dark theme. Screenshots land in test-results/screenshots/mp-*.png.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/engine/backend.js'
import { writeSafetensors, type WritableTensor } from '../../src/engine/safetensors.js'
import { openApp, type AppPage } from '../helpers/app-page.js'
import { tinyModelWithByteTokenizer } from '../helpers/byte-tokenizer.js'
import { mxd } from '../helpers/mxd-cli.js'
import { writeMxdLayerFolder } from '../helpers/mxd-layer-folder.js'
import { repoRoot, type WebProcess } from '../helpers/web-process.js'

const fixtures = join(repoRoot, 'test/fixtures/models')
const POSITIONS = 4096

let app: AppPage
let web: WebProcess
let page: Page
const cleanup: string[] = []
let modelDir = ''
let modelId = 0
let brokenDir = ''

const shot = (name: string): Promise<void> => app.shot(name)

/**
 * The tiny GPT-2 fixture with the byte tokenizer, its position table tiled out to 4096 rows and
 * no end-of-sequence token, so a generation can run long enough to be watched and stopped.
 */
function longTinyModel(): string {
  const src = tinyModelWithByteTokenizer()
  const dir = mkdtempSync(join(tmpdir(), 'tiny-gpt2-bytes-'))
  cpSync(join(src, 'tokenizer.json'), join(dir, 'tokenizer.json'))
  const config = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, n_positions: POSITIONS, n_ctx: POSITIONS, eos_token_id: null, bos_token_id: null }))
  const buf = readFileSync(join(src, 'model.safetensors'))
  const headerLen = Number(buf.readBigUInt64LE(0))
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>
  const tensors: Record<string, WritableTensor> = {}
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue
    const bytes = buf.subarray(8 + headerLen + t.data_offsets[0], 8 + headerLen + t.data_offsets[1])
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
    if (name === 'transformer.wpe.weight') {
      const [rows, width] = t.shape as [number, number]
      const tiled = new Float32Array(POSITIONS * width)
      for (let r = 0; r < POSITIONS; r++) tiled.set(data.subarray((r % rows) * width, (r % rows + 1) * width), r * width)
      tensors[name] = { dtype: 'F32', shape: [POSITIONS, width], data: tiled }
    } else tensors[name] = { dtype: 'F32', shape: t.shape, data }
  }
  writeSafetensors(join(dir, 'model.safetensors'), tensors)
  rmSync(src, { recursive: true, force: true })
  return dir
}

const generatedSpans = (): ReturnType<Page['locator']> => page.locator('[data-testid="pg-stream"] [data-kind="generated"]')

beforeAll(async () => {
  modelDir = longTinyModel()
  brokenDir = tinyModelWithByteTokenizer()
  const hfCache = mkdtempSync(join(tmpdir(), 'mxd-empty-hf-'))
  cleanup.push(modelDir, brokenDir, hfCache)
  app = await openApp({ env: { HF_HUB_CACHE: hfCache }, cleanup })
  ;({ web, page } = app)
})

afterAll(async () => {
  await app?.close()
})

describe('Models page and Playground in web mode', () => {
  it('opens the Models page from the sidebar', async () => {
    await page.goto(web.url)
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Models/ }).click()
    await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor()
    await page.getByText('~/.cache/huggingface/hub/models--org--name/snapshots/').waitFor()
  })

  it('refuses a bad folder with the back end’s message and adds nothing', async () => {
    const input = page.getByTestId('model-path')
    const error = page.getByTestId('model-add-error')
    await input.fill('/no/such/folder')
    await page.getByTestId('model-add').click()
    await error.getByText(/\/no\/such\/folder is not a folder/).waitFor()
    await expect.poll(() => input.getAttribute('aria-invalid')).toBe('true')
    await input.fill('relative/model')
    await input.press('Enter')
    await error.getByText(/absolute path/).waitFor()
    await input.fill(join(repoRoot, 'test/fixtures/tokenizers/gpt2'))
    await page.getByTestId('model-add').click()
    await error.getByText(/config\.json/).waitFor()
    await shot('mp-01-models-bad-path')
    const client = await web.client()
    const list = await client.call('models.list', {})
    client.close()
    expect(list.filter((m) => m.source === 'added')).toEqual([])
    await expect.poll(() => page.locator('tr[data-model-id] [data-source="added"]').count()).toBe(0)
  })

  it('adds the tiny model folder and lists its facts', async () => {
    await page.getByTestId('model-path').fill(modelDir)
    await page.getByTestId('model-add').click()
    await page.getByRole('status').getByText(/^Added /).waitFor()
    await expect.poll(() => page.getByTestId('model-add-error').textContent()).toBe('')
    await expect.poll(() => page.getByTestId('model-path').inputValue()).toBe('')
    const row = page.locator('tr[data-model-id]').filter({ has: page.locator('[data-source="added"]') })
    await expect.poll(() => row.count()).toBe(1)
    modelId = Number(await row.getAttribute('data-model-id'))
    const cells = (await row.locator('td').allTextContents()).map((t) => t.trim())
    expect(cells[0]).toMatch(/^tiny-gpt2-bytes-\w+\s*Added/)
    expect(cells.slice(1, 10)).toEqual(['gpt2', expect.stringMatching(/^\d+(\.\d+)?K$/), '2', '32', '128', 'F32', expect.stringMatching(/ KB$/), expect.stringMatching(/ MB$/), 'Yes'])

    // A model without a tokenizer and a folder that can no longer be read, added behind the page's back.
    const client = await web.client()
    await client.call('models.add', { path: join(fixtures, 'llama-tiny-f32') })
    await client.call('models.add', { path: brokenDir })
    client.close()
    rmSync(join(brokenDir, 'config.json'))
    await page.reload()
    await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor()
    await page.getByTestId('model-error').first().waitFor()
    await expect.poll(() => page.getByTestId('model-error').first().textContent()).toMatch(/Cannot read this folder: .*config\.json/)
    await page.locator('tr[data-model-id]').filter({ hasText: 'llama' }).getByText('No', { exact: true }).waitFor()
    await shot('mp-02-models-list')
  })

  it('removes a model after confirmation, leaving its files on disk', async () => {
    const row = page.locator('tr[data-model-id]').filter({ has: page.getByTestId('model-error') })
    await row.getByRole('button', { name: /Remove/ }).click()
    const dialog = page.getByRole('dialog')
    await dialog.getByText('The files on disk are not touched').waitFor()
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    await expect.poll(() => row.count()).toBe(1)
    await row.getByRole('button', { name: /Remove/ }).click()
    await dialog.getByRole('button', { name: 'Remove from list' }).click()
    await page.getByTestId('model-error').waitFor({ state: 'detached' })
    expect(existsSync(join(brokenDir, 'model.safetensors'))).toBe(true)
  })

  it('opens a model’s layer table, with Convert links per layer', async () => {
    await page.locator(`tr[data-model-id="${modelId}"]`).focus()
    await page.keyboard.press('Enter')
    await page.waitForURL(new RegExp(`#/models/${modelId}$`))
    const table = page.getByTestId('layer-table')
    await table.waitFor()
    const rows = table.locator('tbody tr')
    await expect.poll(() => rows.count()).toBe(2)
    const first = (await rows.nth(0).locator('td').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim())
    expect(first[0]).toBe('0')
    expect(first[1]).toBe('blocks.0.ln2.hook_normalized → blocks.0.hook_mlp_out')
    expect(first.slice(2, 5)).toEqual(['32', '128', '8.4K']) // 2·32·128 + 128 + 32 = 8,352
    await page.getByText('Context length').waitFor()
    await shot('mp-03-layer-table')
    await rows.nth(1).getByRole('button', { name: 'Convert layer 1' }).click()
    await page.waitForURL(new RegExp(`#/convert\\?model=${modelId}&layer=1$`))
    await page.goBack()
    await table.waitFor()
  })

  it('opens the model in the Playground and streams 24 tokens in one by one', async () => {
    await page.getByTestId('open-playground').click()
    await page.waitForURL(new RegExp(`#/playground\\?model=${modelId}$`))
    await page.getByRole('heading', { name: 'Playground', level: 1 }).waitFor()
    await expect.poll(() => page.getByTestId('pg-model').inputValue()).toBe(String(modelId))
    await page.getByTestId('pg-prompt').fill('Hello, world')
    await page.getByTestId('pg-max-tokens').fill('24')
    await page.getByTestId('pg-temperature').fill('0')
    await page.getByText('Greedy: always the likeliest').waitFor()

    // Record the number of generated-token spans at every DOM change until the stop reason shows.
    await page.evaluate(() => {
      const w = window as unknown as { counts: number[]; doneSeen: boolean }
      w.counts = []
      w.doneSeen = false
      new MutationObserver(() => {
        if (w.doneSeen) return
        if (document.querySelector('[data-testid="pg-stop-reason"]')) {
          w.doneSeen = true
          return
        }
        const n = document.querySelectorAll('[data-testid="pg-stream"] [data-kind="generated"]').length
        if (n !== w.counts.at(-1)) w.counts.push(n)
      }).observe(document.body, { childList: true, subtree: true, characterData: true })
    })
    await page.getByTestId('pg-prompt').focus()
    await page.keyboard.press('Control+Enter')
    await page.getByTestId('pg-stop-reason').waitFor()
    const counts = await page.evaluate(() => (window as unknown as { counts: number[] }).counts)
    const positive = counts.filter((n) => n > 0)
    expect(positive.length, `counts seen before done: ${counts.join(', ')}`).toBeGreaterThanOrEqual(3)
    for (let i = 1; i < positive.length; i++) expect(positive[i]!).toBeGreaterThan(positive[i - 1]!)
    await expect.poll(() => generatedSpans().count()).toBe(24)
    await expect.poll(() => page.locator('[data-testid="pg-stream"] [data-kind="prompt"]').count()).toBe('Hello, world'.length)
    await expect.poll(() => page.getByTestId('pg-stop-reason').getAttribute('data-stop-reason')).toBe('max_tokens')
    await expect.poll(() => page.getByTestId('pg-stop-reason').textContent()).toContain('reached the max tokens limit')
    await expect.poll(() => page.getByTestId('pg-seed-used').textContent()).toMatch(/^\d+$/)
    await page.getByTestId('pg-rate').getByText(/tokens\/s$/).waitFor()
    await expect.poll(() => page.getByTestId('pg-status').getAttribute('data-status')).toBe('done')
  })

  it('shows the top predictions of a keyboard-focused token, in a hover card and the side panel', async () => {
    await generatedSpans().nth(2).focus()
    await page.keyboard.press('ArrowRight')
    const pos = await page.evaluate(() => document.activeElement?.getAttribute('data-pos'))
    expect(Number(pos)).toBe('Hello, world'.length + 3)
    const pop = page.getByTestId('pg-popover')
    await pop.waitFor()
    await expect.poll(() => pop.getByTestId('predictions').locator('li').count()).toBe(5)
    const panel = page.getByTestId('pg-panel')
    await panel.getByText(`Position ${pos}`).waitFor()
    const items = panel.getByTestId('predictions').locator('li')
    await expect.poll(() => items.count()).toBe(5)
    // Greedy: the chosen token is the likeliest one, marked first; probabilities go down.
    await expect.poll(() => items.nth(0).getAttribute('class')).toContain('chosen')
    const probs = (await items.locator('.prob').allTextContents()).map((t) => Number(t.replace(/[<%]/g, '')))
    for (let i = 1; i < probs.length; i++) expect(probs[i]!).toBeLessThanOrEqual(probs[i - 1]!)
    await shot('mp-05-playground-done')
  })

  it('Stop ends a long generation: the stop reason is "aborted"', async () => {
    // The most the form allows (the 4096-token context less one prompt token): the back end writes
    // tokens faster than Chromium renders them, so a short generation can end on the server before
    // the click that stops it arrives.
    await page.getByTestId('pg-max-tokens').fill('4095')
    await page.getByTestId('pg-temperature').fill('0.9')
    await page.getByTestId('pg-seed-random').uncheck()
    await page.getByTestId('pg-seed').fill('7')
    await page.getByTestId('pg-generate').click()
    // Stop as soon as the first token shows, so the stop has the most of the 4096 tokens to land
    // in however fast the back end writes them; anything slow here (a screenshot) could let the
    // generation finish first.
    await expect.poll(() => generatedSpans().count(), { timeout: 60_000, interval: 20 }).toBeGreaterThanOrEqual(1)
    await page.getByTestId('pg-stop').click()
    await page.getByTestId('pg-stop-reason').waitFor()
    await shot('mp-04-playground-stopped')
    await expect.poll(() => page.getByTestId('pg-stop-reason').getAttribute('data-stop-reason')).toBe('aborted')
    await expect.poll(() => page.getByTestId('pg-seed-used').textContent()).toBe('7')
    const n = await generatedSpans().count()
    expect(n).toBeGreaterThanOrEqual(1)
    expect(n).toBeLessThan(4096)

    // Esc stops too.
    await page.getByTestId('pg-generate').click()
    await expect.poll(() => generatedSpans().count(), { timeout: 60_000, interval: 20 }).toBeGreaterThanOrEqual(1)
    await page.keyboard.press('Escape')
    await page.getByTestId('pg-stop-reason').waitFor()
    await expect.poll(() => page.getByTestId('pg-stop-reason').getAttribute('data-stop-reason')).toBe('aborted')
    await expect.poll(() => generatedSpans().count()).toBeLessThan(4096)
  })

  it('generates with a converted layer spliced in, steered by one expert; the text is what `mxd generate --splice --steer` writes', async () => {
    await initBackend()
    const layerDir = mkdtempSync(join(tmpdir(), 'mxd-pg-layer-'))
    cleanup.push(layerDir)
    writeMxdLayerFolder(layerDir, { modelDir, block: 1, dModel: 32, hidden: 128, experts: 24, k: 4 })
    const client = await web.client()
    const { runId } = await client.call('convert.import', { dir: layerDir })
    const done: string[] = []
    client.subscribe((e) => {
      if (e.event === 'playground.event' && e.data.type === 'done' && e.data.text !== null) done.push(e.data.text)
    })
    await page.reload()
    const select = page.getByTestId('pg-layer')
    await select.locator('option', { hasText: `Run #${runId}: MxD in block 1, K = 4 of 24` }).waitFor({ state: 'attached' })
    await select.selectOption({ label: `Run #${runId}: MxD in block 1, K = 4 of 24` })
    await page.getByTestId('pg-prompt').fill('Hello, world')
    await page.getByTestId('pg-max-tokens').fill('8')
    await page.getByTestId('pg-temperature').fill('0')

    const run = async (): Promise<string> => {
      const before = done.length
      await page.getByTestId('pg-generate').click()
      await page.getByTestId('pg-stop-reason').waitFor()
      await expect.poll(() => done.length).toBe(before + 1)
      return done.at(-1)!
    }
    const plain = await run()
    await expect.poll(() => page.getByTestId('pg-spliced').textContent()).toMatch(new RegExp(`run #${runId} spliced\\s*$`))

    // A unit the layer lacks is refused in the form; nothing is generated.
    await page.getByTestId('pg-steer-unit').fill('24')
    await page.getByTestId('pg-generate').click()
    await page.getByText('The expert must be at most 23.').waitFor()
    expect(done.length).toBe(1)

    await page.getByTestId('pg-steer-unit').fill('3')
    await page.getByTestId('pg-steer-value').fill('500')
    const steered = await run()
    await expect.poll(() => page.getByTestId('pg-spliced').textContent()).toContain('steering 3 by +500')
    await shot('mp-09-playground-steered')
    client.close()

    const cli = await mxd(['generate', '--model', modelDir, '--prompt', 'Hello, world', '--max-tokens', '8', '--splice', String(runId), '--steer', '3=500', '--store', web.store, '--json'])
    expect(cli.code, cli.stderr).toBe(0)
    const fromCli = JSON.parse(cli.stdout.trim().split('\n').at(-1)!) as { text: string }
    expect(steered).toBe(fromCli.text)
    expect(steered).not.toBe(plain)
    await page.getByTestId('pg-layer').selectOption({ index: 0 })
  })

  it('says why a model without a tokenizer cannot be used', async () => {
    const client = await web.client()
    const llama = (await client.call('models.list', {})).find((m) => m.architecture === 'llama' && m.source === 'added')!
    client.close()
    await page.goto(`http://127.0.0.1:${web.port}/#/playground?model=${llama.id}`)
    await page.getByTestId('pg-blocker').getByText(/no tokenizer\.json/).waitFor()
    await expect.poll(() => page.getByTestId('pg-generate').isDisabled()).toBe(true)
    await expect.poll(() => page.locator(`[data-testid="pg-model"] option[value="${llama.id}"]`).isDisabled()).toBe(true)
    await page.getByTestId('pg-model').selectOption(String(modelId))
    await page.waitForURL(new RegExp(`model=${modelId}$`))
    await expect.poll(() => page.getByTestId('pg-blocker').count()).toBe(0)
    await expect.poll(() => page.getByTestId('pg-generate').isDisabled()).toBe(false)
  })

  it('works in the dark theme', async () => {
    await page.getByTestId('pg-max-tokens').fill('40')
    await page.getByTestId('pg-generate').click()
    await page.getByTestId('pg-stop-reason').waitFor()
    await page.getByTestId('theme-toggle').click()
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
    await generatedSpans().nth(5).hover()
    await page.getByTestId('pg-popover').waitFor()
    await shot('mp-06-playground-dark')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Models/ }).click()
    await page.locator(`tr[data-model-id="${modelId}"]`).waitFor()
    await shot('mp-07-models-dark')
    await page.locator(`tr[data-model-id="${modelId}"]`).click()
    await page.getByTestId('layer-table').waitFor()
    await shot('mp-08-layer-table-dark')
    await page.getByTestId('theme-toggle').click()
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('light')
  })

  it('raised no page errors', () => {
    expect(app.pageErrors).toEqual([])
  })
})
