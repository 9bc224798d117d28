// Golden tests against an independent PyTorch implementation of each sparse layer
// (scripts/fixtures/make_layer_fixtures.py): forward, the paper's loss, every gradient, the
// decoder-gradient projection, one AdamW step and the unit-norm renormalisation, to 1e-5.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { MxDLayer } from '../../../src/engine/layers/mxd.js'
import { gelu } from '../../../src/engine/ops.js'
import { mxdLoss } from '../../../src/engine/layers/loss.js'
import type { LayerTensors, SparseLayer } from '../../../src/engine/layers/sparse-layer.js'
import { TranscoderLayer } from '../../../src/engine/layers/transcoder.js'
import { AdamW } from '../../../src/engine/optim/adamw.js'
import { expectClose, readFixture, type Fixture } from './helpers.js'

beforeAll(async () => {
  await initBackend()
})

function layerOf(f: Fixture, expertProduct: 'sparse' | 'dense' = 'sparse'): SparseLayer {
  const m = f.metadata
  const num = (k: string): number => Number(m[k])
  const tensors: LayerTensors = {}
  for (const n of f.names) if (n.startsWith('param.')) tensors[n.slice('param.'.length)] = f.get(n)
  if (m.kind === 'mxd') {
    const config = { dIn: num('d_in'), dOut: num('d_out'), hidden: num('hidden'), experts: num('experts'), k: num('k'), glu: m.glu === '1', expertProduct }
    return MxDLayer.fromTensors(config, tensors)
  }
  const config = { dIn: num('d_in'), dOut: num('d_out'), width: num('width'), k: num('k'), skip: m.kind === 'skip_transcoder' }
  return TranscoderLayer.fromTensors(config, tensors)
}

const CASES: [string, 'sparse' | 'dense'][] = [
  ['mxd_gelu', 'sparse'],
  ['mxd_gelu', 'dense'],
  ['mxd_glu', 'sparse'],
  ['mxd_glu', 'dense'],
  ['transcoder', 'sparse'],
  ['skip_transcoder', 'sparse'],
]

describe.each(CASES)('%s (Cᵀa %s) matches PyTorch', (name, expertProduct) => {
  it('forward, loss, gradients, projection, AdamW step and renormalisation', () => {
    const f = readFixture(name)
    const layer = layerOf(f, expertProduct)
    const unit = layer.kind === 'mxd' ? 'C' : 'W_dec'
    const x = tf.tensor2d(f.get('x').data, f.get('x').shape as [number, number])
    const target = tf.tensor2d(f.get('target').data, f.get('target').shape as [number, number])

    const out = layer.forward(x)
    expectClose(out.y.dataSync(), f.get('y_hat').data, 1e-5, 'y_hat')
    expectClose(out.codes.dataSync(), f.get('codes').data, 1e-5, 'codes')
    tf.dispose(out)

    const { loss, grads } = layer.valueAndGrads(x, ({ y }) => mxdLoss(y, target))
    expectClose(loss.dataSync(), f.get('loss').data, 1e-5, 'loss')
    expect(Object.keys(grads).sort()).toEqual(Object.keys(layer.params).sort())
    for (const [n, g] of Object.entries(grads)) expectClose(g.dataSync(), f.get(`grad.${n}`).data, 1e-5, `grad.${n}`)

    const projected = layer.projectGradients(grads)
    expectClose(projected[unit]!.dataSync(), f.get(`projected.${unit}`).data, 1e-5, `projected.${unit}`)

    const m = f.metadata
    const opt = new AdamW(layer.params, { lr: Number(m.lr), betas: [Number(m.beta1), Number(m.beta2)], eps: Number(m.eps), weightDecay: Number(m.weight_decay) })
    opt.applyGradients(projected)
    layer.afterStep()
    for (const [n, v] of Object.entries(layer.params)) expectClose(v.dataSync(), f.get(`stepped.${n}`).data, 1e-5, `stepped.${n}`)

    tf.dispose([loss, x, target, ...Object.values(projected)])
    opt.dispose()
    layer.dispose()
  })
})

it('exact GELU matches torch.nn.functional.gelu to 1e-6 on [-8, 8]', () => {
  const f = readFixture('gelu')
  const x = tf.tensor1d(f.get('x').data)
  const y = gelu(x)
  const got = y.dataSync()
  const want = f.get('y').data
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want[i]!)))
  tf.dispose([x, y])
})
