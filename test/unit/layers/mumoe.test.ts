import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { materializeExperts, mixExperts } from '../../helpers/mumoe-materialize.js'
import {
  CPMuMoE,
  cpLayerParamCount,
  denseMlpParamCount,
  gateParamCount,
  matchedCpRank,
  matchedTrRanks,
  MuMoE,
  mumoeMlpParamCount,
  TRMuMoE,
  trLayerParamCount,
  type GateNorm,
  type MuMoEKind,
  type MuMoELayer,
  type TRRanks,
} from '../../../src/engine/layers/mumoe.js'
import {
  maxAbs,
  maxAbsDiff,
  randRows,
  readParams,
  refBatchNorm,
  refEntmax15,
  refMuMoE,
  rng,
  type ParamArrays,
  type Rows,
} from './mumoe-reference.js'

beforeAll(async () => {
  await initBackend()
})

/** Overwrites every variable with N(0, std) draws so no structure of the init hides a bug. */
function randomize(vars: Record<string, tf.Variable>, seed: number, std = 0.7): void {
  Object.values(vars).forEach((v, i) => tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, std, 'float32', seed + i))))
}

const dims = { inputDim: 5, outputDim: 4, nExperts: 6 }
const trRanks: TRRanks = { r1: 2, r2: 3, r3: 4 }
const makeLayer = (kind: MuMoEKind, seed: number): MuMoELayer =>
  kind === 'cp' ? new CPMuMoE(dims, 3, seed) : new TRMuMoE(dims, trRanks, seed)
const forwardRows = (layer: MuMoELayer, z: Rows, a: Rows): Rows =>
  tf.tidy(() => layer.forward(tf.tensor2d(z), tf.tensor2d(a)).arraySync() as Rows)

describe.each(['cp', 'tr'] as const)('%sμMoE layer', (kind) => {
  it.each([1, 3, 8])('forward equals Σ_n a_n W_nᵀ [z; 1] of the materialized experts (batch %i)', (batch) => {
    const rand = rng(10 + batch)
    const layer = makeLayer(kind, batch)
    // sparse gates (entmax of spread logits) and dense ones (uniform-ish)
    const a = randRows(rand, batch, dims.nExperts, 2).map(refEntmax15)
    a[0] = new Array<number>(dims.nExperts).fill(1 / dims.nExperts)
    const z = randRows(rand, batch, dims.inputDim)
    for (const phase of ['init', 'random'] as const) {
      if (phase === 'random') randomize(layer.variables(), 100 * batch)
      const want = mixExperts(materializeExperts(layer), a, z)
      const got = forwardRows(layer, z, a)
      expect(got.length).toBe(batch)
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5 * Math.max(1, maxAbs(want)))
    }
    layer.dispose()
  })

  it('initialises as the official code', () => {
    const big = { inputDim: 64, outputDim: 48, nExperts: 96 }
    if (kind === 'cp') {
      const l = new CPMuMoE(big, 40, 7)
      const u1 = Array.from(l.U1.dataSync())
      const mean = u1.reduce((s, v) => s + v, 0) / u1.length
      const std = Math.sqrt(u1.reduce((s, v) => s + (v - mean) ** 2, 0) / u1.length)
      // U1 ~ N(1, 1)
      expect(Math.abs(mean - 1)).toBeLessThan(0.05)
      expect(Math.abs(std - 1)).toBeLessThan(0.05)
      // U2 ~ U(±sqrt(1/I)) (fan-in: the input dim, not I+1); U3 ~ U(±sqrt(1/R)).
      expect(l.U2.shape).toEqual([65, 40])
      expect(maxAbs([Array.from(l.U2.dataSync())])).toBeLessThanOrEqual(Math.sqrt(1 / 64))
      expect(maxAbs([Array.from(l.U2.dataSync())])).toBeGreaterThan(0.9 * Math.sqrt(1 / 64))
      expect(l.U3t.shape).toEqual([40, 48])
      expect(maxAbs([Array.from(l.U3t.dataSync())])).toBeLessThanOrEqual(Math.sqrt(1 / 40))
      expect(maxAbs([Array.from(l.U3t.dataSync())])).toBeGreaterThan(0.9 * Math.sqrt(1 / 40))
      l.dispose()
    } else {
      const r = { r1: 4, r2: 4, r3: 8 }
      const l = new TRMuMoE(big, r, 7)
      // Each expert slice of G1 is diagonal with N(1, 1) entries.
      const g1 = l.G1.arraySync() as number[][][]
      const diag: number[] = []
      g1.forEach((slice) => slice.forEach((row, i) => row.forEach((v, j) => (i === j ? diag.push(v) : expect(Math.abs(v)).toBe(0)))))
      expect(Math.abs(diag.reduce((s, v) => s + v, 0) / diag.length - 1)).toBeLessThan(0.15)
      // G2 ~ U(±sqrt(1/I)); G3 ~ U(±sqrt(1/(r1·r3))).
      expect(l.G2.shape).toEqual([65, 4, 8])
      expect(maxAbs([Array.from(l.G2.dataSync())])).toBeLessThanOrEqual(Math.sqrt(1 / 64))
      expect(l.G3.shape).toEqual([4, 8, 48])
      expect(maxAbs([Array.from(l.G3.dataSync())])).toBeLessThanOrEqual(Math.sqrt(1 / 32))
      expect(maxAbs([Array.from(l.G3.dataSync())])).toBeGreaterThan(0.9 * Math.sqrt(1 / 32))
      l.dispose()
    }
  })
})

// ---------------------------------------------------------------------------- gated modules

interface Case {
  kind: MuMoEKind
  norm: GateNorm
  twoLayers: boolean
}
const cases: Case[] = [
  { kind: 'cp', norm: 'layernorm', twoLayers: true },
  { kind: 'tr', norm: 'layernorm', twoLayers: true },
  { kind: 'cp', norm: 'batchnorm', twoLayers: false },
  { kind: 'tr', norm: 'batchnorm', twoLayers: true },
]
const label = (c: Case): string => `${c.kind} / ${c.norm} / ${c.twoLayers ? 'two layers (GPT-2 MLP)' : 'one layer'}`

function makeModule(c: Case, seed: number): MuMoE {
  return new MuMoE({
    kind: c.kind,
    inputDim: 3,
    outputDim: 4,
    secondDim: c.twoLayers ? 2 : undefined,
    nExperts: 4,
    rank: c.kind === 'cp' ? 2 : { r1: 2, r2: 2, r3: 3 },
    norm: c.norm,
    seed,
  })
}

describe.each(cases.map((c) => [label(c), c] as const))('μMoE module %s', (_name, c) => {
  it('forward (y and the gate a) equals the float64 reference, for 3-D input', () => {
    const model = makeModule(c, 1)
    const rand = rng(20)
    const x = randRows(rand, 6, 3)
    for (const phase of ['init', 'random'] as const) {
      if (phase === 'random') randomize(model.variables(), 30)
      const ref = refMuMoE(model, readParams(model), x)
      const { y, a } = tf.tidy(() => {
        const out = model.forwardWithGate(tf.tensor3d(x.flat(), [2, 3, 3]))
        expect(out.y.shape).toEqual([2, 3, model.second ? 2 : 4])
        return { y: (out.y.arraySync() as number[][][]).flat(), a: (out.a.arraySync() as number[][][]).flat() }
      })
      // a zero-initialised gate routes every token uniformly
      if (phase === 'init') a.forEach((row) => row.forEach((v) => expect(v).toBeCloseTo(1 / 4, 6)))
      expect(maxAbsDiff(a, ref.a)).toBeLessThan(1e-5)
      expect(maxAbsDiff(y, ref.y)).toBeLessThan(1e-5 * Math.max(1, maxAbs(ref.y)))
    }
    model.dispose()
  })

  it('gradients of every parameter match central differences of the float64 reference', () => {
    const model = makeModule(c, 2)
    randomize(model.variables(), 40)
    const rand = rng(21)
    const x = randRows(rand, 6, 3)
    const outDim = model.second ? 2 : 4
    const w = randRows(rand, 6, outDim)
    // loss = Σ w ∗ y
    const vars = model.variables()
    const grads = tf.tidy(() => {
      const xt = tf.tensor2d(x)
      const wt = tf.tensor2d(w)
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(model.forward(xt), wt)) as tf.Scalar, Object.values(vars))
      return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, Array.from((grads[v.name] as tf.Tensor).dataSync())]))
    })
    const base = readParams(model)
    const loss = (p: ParamArrays): number =>
      refMuMoE(model, p, x).y.reduce((s, row, b) => s + row.reduce((t, v, o) => t + v * w[b]![o]!, 0), 0)
    const h = 1e-6
    let checked = 0
    for (const [name, values] of Object.entries(base)) {
      const got = grads[name]!
      expect(got.length).toBe(values.length)
      const fd = Array.from(values, (_, j) => {
        const up = { ...base, [name]: Float64Array.from(values) }
        const down = { ...base, [name]: Float64Array.from(values) }
        up[name]![j]! += h
        down[name]![j]! -= h
        return (loss(up) - loss(down)) / (2 * h)
      })
      const scale = Math.max(1, ...fd.map(Math.abs))
      fd.forEach((g, j) => expect(Math.abs(got[j]! - g), `${name}[${j}]`).toBeLessThan(1e-4 * scale))
      // the gate must actually receive gradient (it is zero-initialised but learnable)
      expect(Math.max(...fd.map(Math.abs)), name).toBeGreaterThan(0)
      checked += values.length
    }
    expect(checked).toBe(model.paramCount())
    model.dispose()
  })

  it('leaks no tensors over 50 forward/backward passes', () => {
    const model = makeModule(c, 3)
    const x = tf.tensor2d(randRows(rng(22), 8, 3))
    const vars = Object.values(model.variables())
    const step = (): void => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(model.forward(x))) as tf.Scalar, vars)
      tf.dispose([value, ...Object.values(grads)])
    }
    step()
    const before = tf.memory().numTensors
    for (let i = 0; i < 50; i++) step()
    expect(tf.memory().numTensors).toBe(before)
    x.dispose()
    model.dispose()
  })
})

describe('BatchNorm gate', () => {
  it('tracks running statistics as torch (momentum 0.1, unbiased variance) and uses them in eval', () => {
    const model = makeModule({ kind: 'cp', norm: 'batchnorm', twoLayers: false }, 4)
    randomize({ G: model.gate.G }, 50)
    const x = randRows(rng(23), 5, 3)
    tf.tidy(() => model.forward(tf.tensor2d(x)))
    const G = model.gate.G.arraySync() as number[][]
    const h = x.map((row) => Array.from({ length: 4 }, (_, n) => row.reduce((s, v, i) => s + v * G[i]![n]!, 0)))
    const { mean, variance } = refBatchNorm(h)
    const runMean = Array.from(model.gate.runningMean!.dataSync())
    const runVar = Array.from(model.gate.runningVar!.dataSync())
    mean.forEach((m, n) => expect(runMean[n]).toBeCloseTo(0.1 * m, 5))
    variance.forEach((v, n) => expect(runVar[n]).toBeCloseTo(0.9 + 0.1 * v * (5 / 4), 5))

    // Eval: normalised by the running statistics, and nothing is updated.
    model.training = false
    const a = tf.tidy(() => model.forwardWithGate(tf.tensor2d(x)).a.arraySync() as Rows)
    const want = h.map((row) => refEntmax15(row.map((v, n) => (v - runMean[n]!) / Math.sqrt(runVar[n]! + 1e-5))))
    expect(maxAbsDiff(a, want)).toBeLessThan(1e-5)
    expect(Array.from(model.gate.runningMean!.dataSync())).toEqual(runMean)
    model.dispose()
  })
})

describe('parameter counts', () => {
  it('counts match the variables actually allocated', () => {
    for (const c of cases.filter((k) => k.twoLayers)) {
      const model = makeModule(c, 5)
      const rank = model.options.rank
      expect(model.paramCount()).toBe(mumoeMlpParamCount({ dModel: 3, hidden: 4, outDim: 2 }, 4, c.kind, rank))
      model.dispose()
    }
    expect(cpLayerParamCount({ inputDim: 3, outputDim: 4, nExperts: 5 }, 2)).toBe(2 * (5 + 4 + 4))
    expect(trLayerParamCount({ inputDim: 3, outputDim: 4, nExperts: 5 }, { r1: 2, r2: 3, r3: 4 })).toBe(2 * 5 * 3 + 3 * 4 * 4 + 4 * 4 * 2)
    expect(gateParamCount(768, 64)).toBe(49152)
  })

  it('the matched ranks give a GPT-2 μMoE MLP the dense MLP budget (paper: CP rank ≈ 0.78·768 at 64 experts)', () => {
    const gpt2 = { dModel: 768, hidden: 3072 }
    const dense = denseMlpParamCount(gpt2)
    expect(dense).toBe(768 * 3072 + 3072 + 3072 * 768 + 768)
    // CP: 598 (official int(0.78·768) = 599) and 552 (official int(0.725·768) = 556).
    expect(matchedCpRank(gpt2, 64)).toBe(598)
    expect(matchedCpRank(gpt2, 256)).toBe(552)
    // TR with r1 = r2 = 4: 152 (official int(0.2·768) = 153) and 147 (official int(0.195·768) = 149).
    expect(matchedTrRanks(gpt2, 64)).toEqual({ r1: 4, r2: 4, r3: 152 })
    expect(matchedTrRanks(gpt2, 256).r3).toBe(147)
    // The largest rank within budget: one more rank would exceed it.
    for (const n of [16, 64, 256, 1024]) {
      const r = matchedCpRank(gpt2, n)
      expect(mumoeMlpParamCount(gpt2, n, 'cp', r)).toBeLessThanOrEqual(dense)
      expect(mumoeMlpParamCount(gpt2, n, 'cp', r + 1)).toBeGreaterThan(dense)
      const t = matchedTrRanks(gpt2, n)
      expect(mumoeMlpParamCount(gpt2, n, 'tr', t)).toBeLessThanOrEqual(dense)
      expect(mumoeMlpParamCount(gpt2, n, 'tr', { ...t, r3: t.r3 + 1 })).toBeGreaterThan(dense)
    }
  })
})
