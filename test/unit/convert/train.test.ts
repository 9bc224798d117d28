// Conversion training: the layer folder (export format) round-trips; further tests below.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { MxDLayer } from '../../../src/engine/layers/mxd.js'
import type { SparseLayer } from '../../../src/engine/layers/sparse-layer.js'
import { TranscoderLayer } from '../../../src/engine/layers/transcoder.js'
import { LAYER_CONFIG_FILE, LAYER_WEIGHTS_FILE, loadLayerFolder, readLayerConfig, saveLayerFolder } from '../../../src/convert/layer-file.js'
import { SafetensorsFile } from '../../../src/engine/safetensors.js'

const tmp = mkdtempSync(join(tmpdir(), 'mxd-convert-'))
beforeAll(async () => {
  await initBackend()
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const meta = { hook_name: 'blocks.1.ln2.hook_normalized', hook_name_out: 'blocks.1.hook_mlp_out', layer: 1, model_name: 'tiny', model_hash: 'fp1:x', training: { lr: 1e-3 } }

function outputs(layer: SparseLayer, x: tf.Tensor2D): Float32Array {
  return tf.tidy(() => layer.forward(x).y.dataSync() as Float32Array)
}

describe('layer folder (export format)', () => {
  const layers: [string, () => SparseLayer][] = [
    ['mxd gelu', () => MxDLayer.create({ dIn: 8, dOut: 6, hidden: 12, experts: 20, k: 3, seed: 1 })],
    ['mxd glu', () => MxDLayer.create({ dIn: 8, dOut: 6, hidden: 12, experts: 20, k: 3, glu: true, seed: 1 })],
    ['transcoder', () => TranscoderLayer.create({ dIn: 8, dOut: 6, width: 32, k: 4, seed: 1 })],
    ['skip transcoder', () => TranscoderLayer.create({ dIn: 8, dOut: 6, width: 32, k: 4, skip: true, seed: 1 })],
  ]
  it.each(layers)('%s: save then load gives identical outputs and the issue\'s tensor names', (name, make) => {
    const layer = make()
    // Non-zero D / W_dec / W_skip so the output depends on every tensor.
    for (const v of Object.values(layer.params)) tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.1, 'float32', 5))))
    const dir = join(tmp, name.replace(' ', '-'))
    const cfg = saveLayerFolder(dir, layer, meta)
    const x = tf.randomNormal([5, 8], 0, 1, 'float32', 3) as tf.Tensor2D
    const { layer: back, cfg: cfg2 } = loadLayerFolder(dir)
    expect(cfg2).toEqual(cfg)
    expect(back.kind).toBe(layer.kind)
    expect(outputs(back, x)).toEqual(outputs(layer, x))
    const file = SafetensorsFile.open(join(dir, LAYER_WEIGHTS_FILE))
    const shapes = Object.fromEntries([...file.tensors.values()].map((t) => [t.name, t.shape]))
    file.close()
    if (layer.kind === 'mxd') {
      expect(shapes).toMatchObject({ E: [8, 12], b_E: [12], G: [8, 20], b_G: [20], C: [20, 6], D: [12, 6], b_out: [6] })
      expect(cfg.n_experts).toBe(20)
      expect(cfg.activation).toBe(name.includes('glu') ? 'glu' : 'gelu')
      if (cfg.activation === 'glu') expect(shapes).toMatchObject({ E_glu: [8, 12], b_glu: [12] })
    } else {
      expect(shapes).toMatchObject({ W_enc: [8, 32], b_enc: [32], W_dec: [32, 6], b_dec: [6] })
      if (layer.kind === 'skip_transcoder') expect(shapes.W_skip).toEqual([6, 8])
      expect(cfg.d_sae).toBe(32)
    }
    tf.dispose(x)
    layer.dispose()
    back.dispose()
  })

  it('names the problem when files are missing or disagree', () => {
    expect(() => loadLayerFolder(join(tmp, 'nope'))).toThrow(/does not exist/)
    const dir = join(tmp, 'bad')
    const layer = MxDLayer.create({ dIn: 8, dOut: 6, hidden: 12, experts: 20, k: 3, seed: 1 })
    saveLayerFolder(dir, layer, meta)
    layer.dispose()
    const cfg = readLayerConfig(dir)
    writeFileSync(join(dir, LAYER_CONFIG_FILE), JSON.stringify({ ...cfg, n_experts: 21 }))
    expect(() => loadLayerFolder(dir)).toThrow(/tensor "G" has shape \[8, 20\] but cfg.json implies \[8, 21\]/)
    writeFileSync(join(dir, LAYER_CONFIG_FILE), JSON.stringify({ ...cfg, architecture: 'transcoder', d_sae: 20 }))
    expect(() => loadLayerFolder(dir)).toThrow(/does not have/)
    rmSync(join(dir, LAYER_WEIGHTS_FILE))
    writeFileSync(join(dir, LAYER_CONFIG_FILE), JSON.stringify(cfg))
    expect(() => loadLayerFolder(dir)).toThrow(/no sae_weights.safetensors/)
  })
})
