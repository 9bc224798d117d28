// One rule for splicing a layer into a model, in the app and the CLI alike: a layer whose cfg.json
// names another model's fingerprint is refused with a message that names the fix; a layer of this
// model, or one without a fingerprint (an imported SAELens folder), is spliced. The app's side
// (playground.generate) is exercised in test/unit/models-api.test.ts; this is the CLI's, through
// the real `mxd forward` command, and the rule itself.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { forward } from '../../../src/cli/commands/forward.js'
import { runCommand } from '../../../src/cli/command.js'
import { checkLayerModel, LayerFileError, modelFingerprint, readLayerConfig, saveLayerFolder } from '../../../src/convert/layer-file.js'
import { initBackend } from '../../../src/engine/backend.js'
import { MxDLayer } from '../../../src/engine/layers/mxd.js'
import { MODELS, NEOX } from './helpers.js'

const GPT2 = join(MODELS, 'gpt2-tiny-f32')
const tmp = mkdtempSync(join(tmpdir(), 'mxd-splice-rule-'))
beforeAll(async () => {
  await initBackend()
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

/** A layer folder for block 1 of a d = 32 model, recorded as trained on `modelHash`. */
function layerFolder(name: string, modelHash: string): string {
  const dir = join(tmp, name)
  const layer = MxDLayer.create({ dIn: 32, dOut: 32, hidden: 64, experts: 8, k: 2, seed: 1 })
  const meta = {
    hook_name: 'blocks.1.ln2.hook_normalized',
    hook_name_out: 'blocks.1.hook_mlp_out',
    layer: 1,
    model_name: 'neox-tiny',
    model_hash: modelHash,
    training: {},
  }
  saveLayerFolder(dir, layer, meta)
  layer.dispose()
  return dir
}

async function cliForward(
  modelDir: string,
  splice: string,
): Promise<{ code: number | null; stdout: string; stderr: string; error: unknown }> {
  const out = new PassThrough()
  const err = new PassThrough()
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] }
  out.on('data', (c: Buffer) => chunks.out.push(c))
  err.on('data', (c: Buffer) => chunks.err.push(c))
  let code: number | null = null
  let error: unknown = null
  try {
    code = await runCommand(
      forward,
      [
        '--model',
        modelDir,
        '--ids',
        '5,17,200',
        '--splice',
        splice,
        '--hooks',
        'blocks.1.mxd.hook_gate',
        '--store',
        join(tmp, 'store'),
        '--json',
      ],
      { out, err },
    )
  } catch (e) {
    error = e
  }
  return { code, stdout: Buffer.concat(chunks.out).toString(), stderr: Buffer.concat(chunks.err).toString(), error }
}

describe('splicing a layer trained on another model', () => {
  it('the rule: refused when the fingerprints differ, allowed when they match or the layer has none', () => {
    const dir = layerFolder('neox-layer', modelFingerprint(NEOX))
    const cfg = readLayerConfig(dir)
    expect(() => checkLayerModel(cfg, NEOX, 'The layer')).not.toThrow()
    expect(() => checkLayerModel(cfg, GPT2, 'The layer')).toThrow(LayerFileError)
    expect(() => checkLayerModel(cfg, GPT2, 'The layer')).toThrow(
      "The layer was trained on neox-tiny, not on this model (its model_hash differs from this model's fingerprint): splice one of this model's layers, or train one on it.",
    )
    expect(() => checkLayerModel({ ...cfg, model_hash: 'unknown' }, GPT2, 'The layer')).not.toThrow()
  })

  it('the CLI refuses it too (it used to warn and splice anyway), and splices a layer of the same model', async () => {
    const dir = layerFolder('neox-layer-cli', modelFingerprint(NEOX))
    const refused = await cliForward(GPT2, dir)
    expect(refused.code).toBeNull()
    expect(refused.error).toBeInstanceOf(LayerFileError)
    expect((refused.error as Error).message).toBe(
      `The layer in ${dir} was trained on neox-tiny, not on this model (its model_hash differs from this model's fingerprint): splice one of this model's layers, or train one on it.`,
    )
    expect(refused.stdout).toBe('')

    const ok = await cliForward(NEOX, dir)
    expect(ok.error).toBeNull()
    expect(ok.code).toBe(0)
    // The gate's hook point exists only when the layer is spliced in.
    expect(Object.keys((JSON.parse(ok.stdout) as { hooks: object }).hooks)).toEqual(['blocks.1.mxd.hook_gate'])
  }, 60_000)
})
