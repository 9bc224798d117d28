// A layer folder as a finished conversion leaves it, without training one: an MxD with fixed,
// non-trivial weights (a sine pattern, so D and b_out are not zero as at initialisation) for the
// tiny test models. For the tests that splice, steer, export or import a layer.
import { modelFingerprint, saveLayerFolder } from '../../src/convert/layer-file.js'
import { MxDLayer } from '../../src/engine/layers/mxd.js'

export interface MxdLayerFolderOptions {
  modelDir: string
  block: number
  dModel: number
  hidden: number
  experts: number
  k: number
  /** cfg.json's training record (default: the model and the block). */
  training?: Record<string, unknown>
}

/** Writes the layer into `dir`; needs an initialised backend. */
export function writeMxdLayerFolder(dir: string, o: MxdLayerFolderOptions): void {
  const shape = { dIn: o.dModel, dOut: o.dModel, hidden: o.hidden, experts: o.experts, k: o.k }
  const fresh = MxDLayer.create({ ...shape, seed: 11 })
  const tensors = Object.fromEntries(
    Object.entries(fresh.toTensors()).map(([n, t]) => [n, { shape: t.shape, data: Float32Array.from(t.data, (_, i) => Math.sin(i * 0.37 + n.length) * 0.3) }]),
  )
  fresh.dispose()
  const layer = MxDLayer.fromTensors(shape, tensors)
  saveLayerFolder(dir, layer, {
    hook_name: `blocks.${o.block}.ln2.hook_normalized`,
    hook_name_out: `blocks.${o.block}.hook_mlp_out`,
    layer: o.block,
    model_name: 'gpt2-tiny',
    model_hash: modelFingerprint(o.modelDir),
    training: o.training ?? { model: o.modelDir, layer: o.block },
  })
  layer.dispose()
}
