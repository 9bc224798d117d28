// Each μMoE channel-mixing MLP of the mixer against its materialised expert tensors: the factors
// are expanded into W [N, I+1, O] by float64 loops (test/helpers/mumoe-materialize.ts) and the
// block evaluated by hand as y = Σ_n a_n W2_nᵀ[GELU(Σ_n a_n W1_nᵀ[x; 1]); 1], with the gate
// a = entmax15(BatchNorm(x G)) in float64 (entmax by bisection, test/unit/layers/mumoe-reference.ts),
// in training mode (batch statistics; running ones updated as torch does) and in eval mode.
// Parameters are the golden fixtures' (random gate weights, so the gate is far from uniform).
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import type { ClassifierParams } from '../../../src/engine/classifiers/classifier.js'
import { channelMix, mixerSchema, type MixerConfig } from '../../../src/engine/classifiers/mixer.js'
import { cpExperts, mixExperts, trExperts, type ExpertTensor } from '../../helpers/mumoe-materialize.js'
import { readFixture } from '../layers/helpers.js'
import { matmul, maxAbs, maxAbsDiff, randRows, refBatchNorm, refEntmax15, rng, type Rows } from '../layers/mumoe-reference.js'

const DIR = join(import.meta.dirname, '../../fixtures/classifiers')
/** float32 engine against float64 loops: max error ≤ REL · max |reference|. */
const REL = 1e-5

beforeAll(async () => {
  await initBackend()
})

/** erf in float64: its Taylor series below 3, erfc's continued fraction above (|error| < 1e-12). */
function erf(x: number): number {
  const ax = Math.abs(x)
  if (ax >= 3) {
    // erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated from the tail.
    let f = ax
    for (let k = 80; k >= 1; k--) f = ax + k / 2 / f
    return Math.sign(x) * (1 - Math.exp(-ax * ax) / (Math.sqrt(Math.PI) * f))
  }
  let term = x
  let sum = x
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n
    sum += term / (2 * n + 1)
  }
  return (2 / Math.sqrt(Math.PI)) * sum
}
const refGelu = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2))

function load(name: string): { config: MixerConfig; params: ClassifierParams; f64: (n: string) => Float64Array } {
  const f = readFixture(name, DIR)
  const config = mixerSchema.parse(JSON.parse(f.metadata.config!))
  const params: ClassifierParams = { weights: {}, buffers: {} }
  for (const n of f.names) {
    const t = f.get(n)
    if (n.startsWith('param.')) params.weights[n.slice(6)] = tf.variable(tf.tensor(t.data, t.shape))
    if (n.startsWith('buffer.')) params.buffers[n.slice(7)] = tf.variable(tf.tensor(t.data, t.shape), false)
  }
  return { config, params, f64: (n) => Float64Array.from(f.get(`param.${n}`).data) }
}

function expertsOf(c: MixerConfig, f64: (n: string) => Float64Array, prefix: string, layer: 'first' | 'second'): ExpertTensor {
  const dims = layer === 'first' ? { inputDim: c.hidden, outputDim: c.channelMixing } : { inputDim: c.channelMixing, outputDim: c.hidden }
  const d = { ...dims, nExperts: c.experts }
  const get = (k: string): Float64Array => f64(`${prefix}.${layer}.${k}`)
  if (c.mlp === 'cpmoe') return cpExperts(d, c.rank!, { U1: get('U1'), U2: get('U2'), U3t: get('U3t') })
  return trExperts(d, { r1: c.ringRank, r2: c.ringRank, r3: c.rank! }, { G1: get('G1'), G2: get('G2'), G3: get('G3') })
}

const toRows = (t: tf.Tensor, cols: number): Rows => {
  const d = t.dataSync()
  return Array.from({ length: d.length / cols }, (_, r) => Array.from(d.subarray(r * cols, (r + 1) * cols)))
}

describe.each(['mixer_cpmoe', 'mixer_trmoe'])('%s channel-mixing μMoE = Σ_n a_n W_n by hand', (name) => {
  it.each([0, 1])('block %i: gate, output and running statistics (training), then eval mode', (block) => {
    const { config: c, params, f64 } = load(name)
    const prefix = `blocks.${block}.channel`
    const [B, P, C, N] = [3, 16, c.hidden, c.experts]
    const rows = randRows(rng(10 + block), B * P, C)
    const x = tf.tensor3d(rows.flat(), [B, P, C])
    const W1 = expertsOf(c, f64, prefix, 'first')
    const W2 = expertsOf(c, f64, prefix, 'second')
    const logits = matmul(rows, f64(`${prefix}.gate.G`), N)
    const block64 = (a: Rows): Rows => mixExperts(W2, a, mixExperts(W1, a, rows).map((r) => r.map(refGelu)))

    // Training mode: batch statistics over all B·P patches.
    const runMean = Array.from(params.buffers[`${prefix}.gate.running_mean`]!.dataSync())
    const runVar = Array.from(params.buffers[`${prefix}.gate.running_var`]!.dataSync())
    const bn = refBatchNorm(logits)
    const aRef = bn.out.map(refEntmax15)
    expect(aRef.flat().some((v) => v === 0), 'the gate should be sparse somewhere').toBe(true)
    const train = channelMix(c, params, block, x, true)
    expect(maxAbsDiff(toRows(train.a!, N), aRef)).toBeLessThanOrEqual(REL)
    const yRef = block64(aRef)
    expect(maxAbsDiff(toRows(train.y, C), yRef)).toBeLessThanOrEqual(REL * maxAbs(yRef))

    // torch's update: new = 0.9·old + 0.1·batch, the batch variance unbiased (n/(n−1)).
    const n = B * P
    const meanWant = runMean.map((m, j) => 0.9 * m + 0.1 * bn.mean[j]!)
    const varWant = runVar.map((v, j) => 0.9 * v + (0.1 * bn.variance[j]! * n) / (n - 1))
    const meanGot = Array.from(params.buffers[`${prefix}.gate.running_mean`]!.dataSync())
    const varGot = Array.from(params.buffers[`${prefix}.gate.running_var`]!.dataSync())
    expect(maxAbsDiff([meanGot], [meanWant])).toBeLessThanOrEqual(1e-6)
    expect(maxAbsDiff([varGot], [varWant])).toBeLessThanOrEqual(1e-6)

    // Eval mode: the running statistics just updated, which stay as they are.
    const aEval = logits.map((r) => refEntmax15(r.map((v, j) => (v - meanWant[j]!) / Math.sqrt(varWant[j]! + 1e-5))))
    const evalOut = channelMix(c, params, block, x, false)
    expect(maxAbsDiff(toRows(evalOut.a!, N), aEval)).toBeLessThanOrEqual(REL)
    const yEval = block64(aEval)
    expect(maxAbsDiff(toRows(evalOut.y, C), yEval)).toBeLessThanOrEqual(REL * maxAbs(yEval))
    expect(Array.from(params.buffers[`${prefix}.gate.running_mean`]!.dataSync())).toEqual(meanGot)

    tf.dispose([x, train.y, train.a!, evalOut.y, evalOut.a!, ...Object.values(params.weights), ...Object.values(params.buffers)])
  })
})
