// Conversion runs that go wrong or stop early (issue 9): a diverging run fails naming its lr and
// a lower one; the first checkpoint comes early (by budget fraction or by clock) so a run stopped
// right after it resumes from it; checkpoint files on disk never exceed what the preview says;
// the BOS position's rows are harvested by default and the choice is written into cfg.json.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ActivationRows } from '../../../src/convert/harvest.js'
import { readLayerConfig } from '../../../src/convert/layer-file.js'
import { trainConversion } from '../../../src/jobs/convert/train.js'
import { DIVERGED_NMSE } from '../../../src/jobs/convert/errors.js'
import { initBackend } from '../../../src/engine/backend.js'
import { inspectModelFolder } from '../../../src/engine/model-folder.js'
import { JobError } from '../../../src/jobs/job.js'
import { CONVERT_DEFAULTS, ConvertConfig, previewConversion } from '../../../src/shared/convert.js'
import { Store } from '../../../src/store/store.js'
import { tinyModelWithByteTokenizer } from '../../helpers/byte-tokenizer.js'
import { repoRoot } from '../../helpers/web-process.js'
import { jobContext, writeTrainCorpus } from './helpers.js'

const tmp = mkdtempSync(join(tmpdir(), 'mxd-hardening-train-'))
beforeAll(async () => {
  await initBackend()
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const modelDir = tinyModelWithByteTokenizer()
const corpus = writeTrainCorpus(tmp)
const small = (extra: Record<string, unknown> = {}): ConvertConfig =>
  ConvertConfig.parse({ model: modelDir, layer: 1, data: corpus, k: 4, experts: 64, ctx: 32, batch: 64, tokens: 64 * 24, bufferRows: 512, harvestBatch: 4, lr: 3e-3, metricsEvery: 2, ...extra })

let stores = 0
function freshRun(config: ConvertConfig): { store: Store; runId: number } {
  const store = new Store({ dir: join(tmp, `store-${++stores}`) })
  return { store, runId: store.createRun('convert', config, 'running').id }
}

describe('divergence', () => {
  it('a run at lr 1 fails, naming the lr and a tenth of it, and leaves no layer folder', async () => {
    const config = small({ lr: 1, tokens: 64 * 40, seed: 0 })
    const { store, runId } = freshRun(config)
    const err = await trainConversion(jobContext(store, config, runId)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(JobError)
    // NMSE passes 1e3 within the first steps after the warm-up: the run stops there, not at step 40.
    expect((err as Error).message).toMatch(
      /^Training diverged: the training NMSE reached [\d.]+e\+\d+ at step \d, above 1\.5 \(outputting zero scores 1\) with lr 1\. Lower the learning rate: start a new run with --lr 0\.1\.$/,
    )
    expect(store.getMetrics(runId).filter((m) => m.name === 'nmse').at(-1)!.value).toBeGreaterThan(1e3)
    expect(existsSync(join(store.runDir(runId), 'layer', 'cfg.json'))).toBe(false)
    store.close()
  }, 120_000)

  it('a run whose last NMSE ends above 1.5 fails at the end, though it never ran away; the same run untouched succeeds', async () => {
    const config = small({ tokens: 64 * 40, seed: 0 })
    const healthy = freshRun(config)
    const result = await trainConversion(jobContext(healthy.store, config, healthy.runId))
    expect(result!.metrics.nmse).toBeLessThan(1)
    healthy.store.close()
    const { store, runId } = freshRun(config)
    // The last window's targets negated: a layer fitted to y scores about (ŷ + y)²/y² ≈ 4 on −y.
    const err = await trainConversion(jobContext(store, config, runId), {
      transformBatch: (b, step) => (step >= 38 ? { x: b.x, y: b.y.map((v) => -v) } : b),
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(JobError)
    expect((err as Error).message).toMatch(/^Training diverged: the training NMSE ended at [\d.]+ \(step 40\), above 1\.5 .* with lr 0\.003\. .*--lr 0\.0003\.$/)
    const last = store.getMetrics(runId).filter((m) => m.name === 'nmse').at(-1)!
    expect(last.step).toBe(40)
    expect(last.value).toBeGreaterThan(DIVERGED_NMSE)
    expect(last.value).toBeLessThan(1e3)
    expect(existsSync(join(store.runDir(runId), 'layer', 'cfg.json'))).toBe(false)
    store.close()
  }, 120_000)
})

describe('the first checkpoint', () => {
  it('comes after 2% of the steps; a run cancelled right after it resumes from it, not from step 0', async () => {
    const config = small({ tokens: 64 * 50 }) // 50 steps: the first checkpoint at step 1
    const { store, runId } = freshRun(config)
    let stop = false
    const written: number[] = []
    // Cancel as soon as the first checkpoint is on disk: no dependence on how fast steps run.
    const first = await trainConversion(jobContext(store, config, runId, () => stop), {
      afterCheckpoint: (step) => {
        written.push(step)
        stop = true
      },
    })
    expect(first).toBeNull()
    expect(written).toEqual([1])
    expect(store.latestCheckpoint(runId)!.step).toBe(1)
    const resumed = await trainConversion(jobContext(store, config, runId))
    expect(resumed!.step).toBe(50)
    expect(store.getLog(runId).map((l) => l.message)).toContain('Resumed from step 1 (64 tokens) with lr 0.003.')
    const lossSteps = store.getMetrics(runId).filter((m) => m.name === 'loss').map((m) => m.step)
    expect(lossSteps).toEqual(Array.from({ length: 25 }, (_, i) => 2 * (i + 1)))
    store.close()
  }, 120_000)

  it('comes after 30 s when that is sooner than 2% of the steps (an injected clock)', async () => {
    const config = small({ tokens: 64 * 400 }) // 2% is step 8; the default interval is 120 s
    const { store, runId } = freshRun(config)
    let t = 0
    let stop = false
    const written: number[] = []
    const result = await trainConversion(jobContext(store, config, runId, () => stop), {
      now: () => (t += 31_000), // every look at the clock is 31 s later
      afterCheckpoint: (step) => {
        written.push(step)
        stop = true
      },
    })
    expect(result).toBeNull()
    expect(written).toEqual([1])
    store.close()
  }, 120_000)
})

describe('disk', () => {
  it('never holds more checkpoint files or bytes than the preview says, and the estimate is tight', async () => {
    const config = small({ tokens: 64 * 24, checkpointSteps: 2 })
    const preview = previewConversion(config, inspectModelFolder(modelDir))
    expect(preview.checkpointFilesPeak).toBe(2)
    expect(preview.diskPeakBytes).toBe(2 * preview.checkpointBytes)
    const { store, runId } = freshRun(config)
    const dir = store.runDir(runId)
    const seen: { files: number; bytes: number; size: number }[] = []
    const result = await trainConversion(jobContext(store, config, runId), {
      // Right after the new file is fsynced and renamed: the moment the old code had three.
      afterCheckpoint: (_step, path) => seen.push({ files: checkpointFiles(dir).length, bytes: folderBytes(dir), size: statSync(path).size }),
    })
    expect(result!.step).toBe(24)
    expect(seen.map((s) => s.size > 0 && s.files > 0).length).toBe(13) // steps 1 (the early first), 2, 4, …, 24
    expect(Math.max(...seen.map((s) => s.files))).toBe(preview.checkpointFilesPeak)
    for (const s of seen) {
      expect(s.bytes).toBeLessThanOrEqual(preview.diskPeakBytes)
      expect(s.size).toBeLessThanOrEqual(preview.checkpointBytes)
      expect(s.size).toBeGreaterThan(0.9 * preview.checkpointBytes)
    }
    // At the end: the final checkpoint and the (smaller) layer file.
    expect(checkpointFiles(dir)).toEqual(['step-24-convert.safetensors'])
    expect(folderBytes(dir)).toBeLessThanOrEqual(preview.diskPeakBytes)
    store.close()
  }, 120_000)
})

/** Checkpoint files in a run folder, temp files of one being written included. */
function checkpointFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.includes('convert.safetensors')).sort()
}

function folderBytes(dir: string): number {
  let n = 0
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += statSync(join(e.parentPath, e.name)).size
  return n
}

describe('BOS', () => {
  // The demo model's tokenizer has a BOS (<|endoftext|>), which every packed sequence starts with.
  const demo = join(repoRoot, 'resources/models/kjv-gpt2-mini')
  const bosConfig = (extra: Record<string, unknown> = {}): ConvertConfig =>
    ConvertConfig.parse({ model: demo, layer: 2, data: corpus, k: 4, experts: 32, ctx: 16, batch: 64, tokens: 64 * 4, harvestBatch: 4, metricsEvery: 2, ...extra })

  async function harvested(config: ConvertConfig): Promise<{ chunks: ActivationRows[]; layerDir: string }> {
    const { store, runId } = freshRun(config)
    const chunks: ActivationRows[] = []
    const result = await trainConversion(jobContext(store, config, runId), { onHarvest: (rows) => chunks.push(rows) })
    store.close()
    return { chunks, layerDir: result!.layerDir }
  }

  it('harvests every position, BOS included, by default (rows = tokens) and says so in cfg.json', async () => {
    const config = bosConfig()
    expect(config.trainOnBos).toBe(true)
    const { chunks, layerDir } = await harvested(config)
    expect(chunks.length).toBeGreaterThan(0)
    for (const c of chunks) {
      expect(c.rows).toBe(4 * 16)
      expect(Array.from(c.pos).filter((p) => p === 0).length).toBe(4)
    }
    const cfg = readLayerConfig(layerDir)
    expect(cfg.train_on_bos).toBe(true)
    expect(cfg.training.trainOnBos).toBe(true)
  }, 120_000)

  it('skips the BOS rows when asked (rows = tokens − sequences) and records that too', async () => {
    const { chunks, layerDir } = await harvested(bosConfig({ trainOnBos: false }))
    expect(chunks.length).toBeGreaterThan(0)
    for (const c of chunks) {
      expect(c.rows).toBe(4 * 15)
      expect(Array.from(c.pos)).not.toContain(0)
    }
    expect(readLayerConfig(layerDir).train_on_bos).toBe(false)
  }, 120_000)
})

describe('the default learning rate', () => {
  it('is the lr with the lowest held-out NMSE at the default budget in the sweep recorded in docs/conversion.md', () => {
    const doc = readFileSync(join(repoRoot, 'docs/conversion.md'), 'utf8')
    // Rows of the sweep table: | layer | lr | tokens | training NMSE | held-out NMSE | …
    const budget = `${CONVERT_DEFAULTS.tokens / 1000}k`
    const rows = [...doc.matchAll(/^\| MxD \| ([\d.e-]+) \| (\d+k) \| ([\d.]+) \| ([\d.]+) \|/gm)]
      .filter((m) => m[2] === budget)
      .map((m) => ({ lr: Number(m[1]), heldOut: Number(m[4]) }))
    expect(rows.length).toBeGreaterThanOrEqual(2)
    const best = rows.reduce((a, b) => (b.heldOut < a.heldOut ? b : a))
    expect(CONVERT_DEFAULTS.lr).toBe(best.lr)
    expect(ConvertConfig.parse({ model: '/m', layer: 0, data: '/d' }).lr).toBe(best.lr)
  })
})
