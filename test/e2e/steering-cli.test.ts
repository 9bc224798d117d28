// `mxd generate --steer` with several units and `mxd steer-score`, as a user runs them (a real
// `mxd` process on a real store), on a transcoder with a planted unit that promotes " LORD"
// (test/unit/steering/planted.ts).
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { runLayerDir } from '../../src/convert/export.js'
import { loadLayerFolder } from '../../src/convert/layer-file.js'
import { splicedMlps } from '../../src/convert/splice.js'
import { registerDataset } from '../../src/data/registry.js'
import { initBackend } from '../../src/engine/backend.js'
import { generate } from '../../src/engine/generate.js'
import { loadLanguageModel } from '../../src/engine/models/load.js'
import { TextTokenizer } from '../../src/engine/tokenizer.js'
import type { SteerScoreResult } from '../../src/shared/steering.js'
import { Store } from '../../src/store/store.js'
import { mxd } from '../helpers/mxd-cli.js'
import { DEMO, runIndex, writeCorpus } from '../unit/features/helpers.js'
import { plantTokenUnit } from '../unit/steering/planted.js'

const U = 2
const OTHER = 5
let storeDir: string
let layerRunId: number
let token: number

beforeAll(async () => {
  await initBackend()
  const dir = mkdtempSync(join(tmpdir(), 'mxd-steer-cli-'))
  storeDir = join(dir, 'store')
  const store = new Store({ dir: storeDir })
  try {
    const ds = await registerDataset(store.db, writeCorpus(dir), { heldOutFraction: 0.5 })
    ;({ layerRunId, token } = plantTokenUnit(store, dir, { unit: U, width: 8, block: 3, token: ' LORD' }))
    await runIndex({ store, dir, datasetId: ds.id }, layerRunId, { tokens: 128, ctx: 32 })
  } finally {
    store.close()
  }
}, 200_000)

const gen = (steer: string): Promise<{ code: number; stdout: string; stderr: string }> =>
  mxd(['generate', '--model', DEMO, '--prompt', 'And the', '--max-tokens', '12', '--temperature', '1', '--seed', '3', '--store', storeDir, '--splice', String(layerRunId), '--steer', steer, '--json'])
const last = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').at(-1)!) as T

describe('steering on the command line', () => {
  it('generate --steer takes several units: zero steers change nothing, both units are applied', async () => {
    const zero = await gen(`${U}=0,${OTHER}=0`)
    expect(zero.code, zero.stderr).toBe(0)
    const both = await gen(`${U}=100,${OTHER}=-40`)
    expect(both.code, both.stderr).toBe(0)
    const b = last<{ ids: number[]; steer: unknown }>(both.stdout)
    expect(b.steer).toEqual([
      { unit: U, value: 100 },
      { unit: OTHER, value: -40 },
    ])
    // The same generation in this process, with both steers and with none.
    const model = await loadLanguageModel(DEMO)
    const tokenizer = TextTokenizer.fromFolder(DEMO)!
    const store = new Store({ dir: storeDir, readonly: true })
    const { layer, cfg } = loadLayerFolder(runLayerDir(store, layerRunId))
    store.close()
    const run = async (steer: { unit: number; value: number }[]): Promise<number[]> =>
      (
        await generate(model, tokenizer.encode('And the'), {
          maxNewTokens: 12,
          temperature: 1,
          seed: 3,
          forward: { mlpReplacements: splicedMlps(model, { block: cfg.layer, layer }, steer) },
        })
      ).ids
    try {
      expect(last<{ ids: number[] }>(zero.stdout).ids).toEqual(await run([]))
      expect(b.ids).toEqual(
        await run([
          { unit: U, value: 100 },
          { unit: OTHER, value: -40 },
        ]),
      )
      // The second unit alone (the first at 0) changes the text: every listed unit is applied.
      const second = await gen(`${U}=0,${OTHER}=100`)
      expect(second.code, second.stderr).toBe(0)
      const s = last<{ ids: number[] }>(second.stdout).ids
      expect(s).toEqual(await run([{ unit: OTHER, value: 100 }]))
      expect(s).not.toEqual(await run([]))
      expect(b.ids.filter((id) => id === token).length).toBeGreaterThan(b.ids.length / 2)
    } finally {
      layer.dispose()
      model.dispose()
    }
  })

  it('steer-score --units scores each unit; a unit outside the layer is refused', async () => {
    const r = await mxd(['steer-score', '--store', storeDir, '--run', String(layerRunId), '--units', `${U},${OTHER}`, '--samples', '2', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const result = last<SteerScoreResult & { runId: number }>(r.stdout)
    expect(result.units.map((u) => u.unit)).toEqual([U, OTHER])
    expect(result.settings.samples).toBe(2)
    expect(result.presetName).toMatch(/Paper/)
    const u = result.units[0]!
    expect(u.topTokens.map((t) => t.id)).toContain(token)
    expect(u.score).toBeGreaterThan(0.3)
    const text = await mxd(['steer-score', '--store', storeDir, '--run', String(layerRunId), '--units', String(U), '--samples', '1'])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/unit +steered +unsteered +score/)
    const bad = await mxd(['steer-score', '--store', storeDir, '--run', String(layerRunId), '--units', '8'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/Unit 8 does not exist/)
  })
})

