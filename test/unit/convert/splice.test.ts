// Splicing sparse layers into the engine's forward pass: the replacement sees ln2's output and
// writes hook_mlp_out, its code is a hook point that can be cached or replaced, and the dense MLP
// spliced as an MxD leaves the model unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codesHookName, forwardSpliced, layerDims, spliceMlp, splicedMlps, zeroMlp } from '../../../src/convert/splice.js'
import { generate } from '../../../src/engine/generate.js'
import { tf } from '../../../src/engine/backend.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { MxDLayer } from '../../../src/engine/layers/mxd.js'
import { TranscoderLayer } from '../../../src/engine/layers/transcoder.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import type { LanguageModel } from '../../../src/engine/models/model.js'
import { expectClose, uniform } from '../layers/helpers.js'
import { denseMlpAsMxd, NEOX } from './helpers.js'

/** An MxD with every parameter random (D and b_out too), so its output is not trivially 0. */
function randomMxd(seed: number, k = 3): MxDLayer {
  const fresh = MxDLayer.create({ dIn: 32, dOut: 32, hidden: 64, experts: 12, k, seed })
  const rand = uniform(seed)
  const tensors = Object.fromEntries(
    Object.entries(fresh.toTensors()).map(([name, t]) => [name, { shape: t.shape, data: Float32Array.from(t.data, () => rand(-0.5, 0.5)) }]),
  )
  fresh.dispose()
  return MxDLayer.fromTensors({ dIn: 32, dOut: 32, hidden: 64, experts: 12, k }, tensors)
}

let model: LanguageModel
beforeAll(async () => {
  model = await loadLanguageModel(NEOX)
})
afterAll(() => model.dispose())

const ids = [
  [5, 17, 200, 3, 44, 90],
  [61, 2, 150, 9, 33, 7],
]

describe('forwardSpliced', () => {
  it('feeds the layer ln2’s output and returns its output as hook_mlp_out, with its code under blocks.L.mxd.hook_gate', () => {
    const layer = randomMxd(1)
    const gate = codesHookName('mxd', 1)
    expect(gate).toBe('blocks.1.mxd.hook_gate')
    const r = forwardSpliced(model, ids, { cacheNames: [hookNames.ln2(1), hookNames.mlpOut(1), gate], splices: [{ block: 1, layer }] })
    const x = r.cache[hookNames.ln2(1)]!
    const direct = layer.forward(tf.reshape(x, [12, 32]) as tf.Tensor2D)
    expect(r.cache[hookNames.mlpOut(1)]!.shape).toEqual([2, 6, 32])
    expect(r.cache[gate]!.shape).toEqual([2, 6, 12])
    expectClose(r.cache[hookNames.mlpOut(1)]!.dataSync(), direct.y.dataSync(), 1e-6, 'mlp_out')
    expect([...r.cache[gate]!.dataSync()]).toEqual([...direct.codes.dataSync()])
    const codes = r.cache[gate]!.arraySync() as number[][][]
    for (const row of codes.flat()) expect(row.filter((v) => v !== 0).length).toBeLessThanOrEqual(3)
    tf.dispose([direct.y, direct.codes, r.logits!, ...Object.values(r.cache)])
    layer.dispose()
  })

  it('names a transcoder’s code blocks.L.transcoder.hook_codes', () => {
    const layer = TranscoderLayer.create({ dIn: 32, dOut: 32, width: 40, k: 4, seed: 2 })
    const name = codesHookName(layer.kind, 0)
    expect(name).toBe('blocks.0.transcoder.hook_codes')
    const r = forwardSpliced(model, ids, { cacheNames: [name], splices: [{ block: 0, layer }] })
    expect(r.cache[name]!.shape).toEqual([2, 6, 40])
    tf.dispose([r.logits!, ...Object.values(r.cache)])
    layer.dispose()
  })

  it('lets a hook on the code replace it (steering): a zero code leaves only b_out', () => {
    const layer = randomMxd(3)
    const gate = codesHookName('mxd', 1)
    const seen: number[] = []
    const r = forwardSpliced(model, ids, {
      hooks: { [gate]: (a) => (seen.push(...a.shape), tf.zerosLike(a)) },
      cacheNames: [hookNames.mlpOut(1), gate],
      splices: [{ block: 1, layer }],
    })
    expect(seen).toEqual([2, 6, 12])
    expect(r.cache[gate]!.dataSync().every((v) => v === 0)).toBe(true)
    const bOut = layer.params.b_out!.dataSync()
    const out = r.cache[hookNames.mlpOut(1)]!.dataSync()
    for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(bOut[i % 32]!, 6)
    tf.dispose([r.logits!, ...Object.values(r.cache)])
    layer.dispose()
  })

  it('the dense MLP spliced as an MxD gives the clean logits; zeroMlp gives the zero-ablated ones', () => {
    const layer = denseMlpAsMxd(0)
    expect(layerDims(layer)).toEqual({ dIn: 32, dOut: 32 })
    const clean = model.forward(ids)
    const spliced = forwardSpliced(model, ids, { splices: [{ block: 0, layer }] })
    expectClose(spliced.logits!.dataSync(), clean.logits!.dataSync(), 1e-5, 'logits')
    const zero = model.forward(ids, { mlpReplacements: { 0: zeroMlp() } })
    const byHook = model.forward(ids, { hooks: { [hookNames.mlpOut(0)]: (a) => tf.zerosLike(a) } })
    expect([...zero.logits!.dataSync()]).toEqual([...byHook.logits!.dataSync()])
    tf.dispose([clean.logits!, spliced.logits!, zero.logits!, byHook.logits!])
    layer.dispose()
  })

  it('refuses a layer of the wrong width or a block the model lacks, and leaks no tensors', () => {
    const narrow = MxDLayer.create({ dIn: 16, dOut: 16, hidden: 32, experts: 4, k: 1, seed: 4 })
    const layer = randomMxd(5)
    const before = tf.memory().numTensors
    expect(() => forwardSpliced(model, ids, { splices: [{ block: 0, layer: narrow }] })).toThrow(/d_in 16 .* width 32/)
    expect(() => forwardSpliced(model, ids, { splices: [{ block: 2, layer }] })).toThrow(/blocks 0…1/)
    const r = forwardSpliced(model, ids, { cacheNames: [codesHookName('mxd', 1)], splices: [{ block: 1, layer }] })
    tf.dispose([r.logits!, ...Object.values(r.cache)])
    const mlp = spliceMlp(layer)
    tf.tidy(() => {
      mlp(tf.zeros([1, 2, 32]))
    })
    expect(tf.memory().numTensors).toBe(before)
    narrow.dispose()
    layer.dispose()
  })
})

describe('steering while generating', () => {
  const gelu = (v: number): number => {
    // erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
    const x = v / Math.SQRT2
    const t = 1 / (1 + 0.3275911 * Math.abs(x))
    const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x)
    return 0.5 * v * (1 + (x >= 0 ? y : -y))
  }

  it('greedy tokens with expert n steered by +v equal a full re-run whose mlp_out gets v·W_nᵀz added, computed by hand', async () => {
    const layer = randomMxd(9)
    const block = 1
    const unit = 7
    const value = 40
    const w = Object.fromEntries(Object.entries(layer.toTensors()).map(([n, t]) => [n, t.data]))
    const [d, H, O] = [32, 64, 32]
    /** v · W_nᵀ z for one position's ln2 output x: W_n[h, o] = D[h, o] · c_n[o], z = GELU(Eᵀx + b_E). */
    const delta = (x: ArrayLike<number>): number[] => {
      const z = Array.from({ length: H }, (_, h) => {
        let pre = w.b_E![h]!
        for (let i = 0; i < d; i++) pre += x[i]! * w.E![i * H + h]!
        return gelu(pre)
      })
      return Array.from({ length: O }, (_, o) => {
        let s = 0
        for (let h = 0; h < H; h++) s += w.D![h * O + o]! * z[h]!
        return value * w.C![unit * O + o]! * s
      })
    }

    const prompt = [5, 17, 200, 3]
    const steered = await generate(model, prompt, {
      maxNewTokens: 8,
      forward: { mlpReplacements: splicedMlps(model, { block, layer }, [{ unit, value }]) },
    })

    // Reference: no KV cache, the unsteered splice, and the hand-computed shift added at hook_mlp_out.
    const seq = [...prompt]
    for (let step = 0; step < 8; step++) {
      let ln2: Float32Array = new Float32Array()
      const { logits } = model.forward([seq], {
        mlpReplacements: { [block]: spliceMlp(layer) },
        hooks: {
          [hookNames.ln2(block)]: (x) => void (ln2 = x.dataSync() as Float32Array),
          [hookNames.mlpOut(block)]: (y) => {
            const shift = seq.flatMap((_, t) => delta(ln2.subarray(t * d, (t + 1) * d)))
            return tf.add(y, tf.tensor3d(shift, [1, seq.length, O]))
          },
        },
        lastPositionOnly: true,
      })
      seq.push(tf.argMax(logits!.reshape([-1])).dataSync()[0]!)
      logits!.dispose()
    }
    expect(steered.ids).toEqual(seq.slice(prompt.length))

    // Steering changes what is generated (the check above would also pass if it did nothing).
    const plain = await generate(model, prompt, { maxNewTokens: 8, forward: { mlpReplacements: splicedMlps(model, { block, layer }) } })
    expect(plain.ids).not.toEqual(steered.ids)
    expect(() => splicedMlps(model, { block, layer }, [{ unit: 12, value: 1 }])).toThrow(/cannot steer unit 12: this layer has units 0…11/)
    layer.dispose()
  })
})
