// A transcoder for the demo model with one planted unit whose decoder row is the unit vector
// along the embedding of one token T (GPT-2 ties the unembedding to it, so the row promotes T):
// steering that unit must make T more frequent. The rest is a seeded random transcoder whose
// encoder is shrunk 1000-fold, so its codes stay tiny. Written as a real layer folder and
// imported through the import path.
import { join } from 'node:path'
import { expect } from 'vitest'
import { createSparseLayer, sparseLayerFromTensors } from '../../../src/engine/layers/kinds.js'
import type { LayerTensors } from '../../../src/engine/layers/sparse-layer.js'
import { SafetensorsFile } from '../../../src/engine/safetensors.js'
import { TextTokenizer } from '../../../src/engine/tokenizer.js'
import type { Store } from '../../../src/store/store.js'
import { DEMO, importTestLayer } from '../features/helpers.js'

const D = 192

export function plantTokenUnit(store: Store, dir: string, o: { unit: number; width: number; block: number; token: string }): { layerRunId: number; token: number } {
  const ids = TextTokenizer.fromFolder(DEMO)!.encode(o.token, { addSpecialTokens: false })
  expect(ids).toHaveLength(1)
  const token = ids[0]!
  const file = SafetensorsFile.open(join(DEMO, 'model.safetensors'))
  const row = file.readFloat32('transformer.wte.weight').subarray(token * D, (token + 1) * D)
  file.close()
  const norm = Math.hypot(...row)
  const spec = { dIn: D, dOut: D, width: o.width, k: 4, hidden: null, glu: false }
  const base = createSparseLayer('transcoder', spec, 3)
  const tensors: LayerTensors = {}
  for (const [name, t] of Object.entries(base.toTensors())) tensors[name] = { shape: t.shape, data: Float32Array.from(t.data as Float32Array) }
  base.dispose()
  tensors.W_enc!.data.forEach((v, i, a) => (a[i] = v * 1e-3))
  for (let i = 0; i < D; i++) tensors.W_dec!.data[o.unit * D + i] = row[i]! / norm
  const layer = sparseLayerFromTensors('transcoder', spec, tensors)
  const layerRunId = importTestLayer(store, dir, layer, o.block, `planted-${o.unit}`)
  layer.dispose()
  return { layerRunId, token }
}
