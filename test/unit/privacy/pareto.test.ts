// Algorithm 1 (Pareto fine-tuning) on a planted data set (8×8 bars, 4 classes): θ = 0.9 makes the
// trained model ≥ 3× less confident on the protected images while the retain accuracy holds;
// one step's update is the float64 PCGrad (or plain sum) of the two gradient parts plus λw, the
// parts computed here by central differences of float64 loops; the norm projection; the kept-
// epoch rule (including "no epoch met the floor: kept w*"); w* untouched; determinism.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { disposeParams } from '../../../src/engine/classifiers/classifier.js'
import { paretoFinetune, type ParetoOptions } from '../../../src/engine/privacy/pareto.js'
import { confidenceSummary } from '../../../src/engine/privacy/report.js'
import type { ObjectiveConfig, ParetoEpoch, PrivacySets } from '../../../src/engine/privacy/types.js'
import { expectClose } from '../layers/helpers.js'
import { flat64, norm64, numericGradient, objective64, plantedRows, subset, trainedClassifier, weights64 } from './reference.js'

beforeAll(async () => {
  await initBackend()
})

// 40 images per class; D_f = 8 of them (2 per class), D_r = the other 152.
const all = plantedRows(40, 11)
const forgetIdx = [0, 1, 2, 3, 40, 41, 42, 43]
const sets: PrivacySets = {
  forget: subset(all, forgetIdx),
  retain: subset(
    all,
    Array.from({ length: 160 }, (_, i) => i).filter((i) => !forgetIdx.includes(i)),
  ),
}
const test = plantedRows(10, 12)
// D_r of 312 rows: more than one CHUNK (256), so the full-batch gradient is accumulated over two chunks.
const bigAll = plantedRows(80, 13)
const bigSets: PrivacySets = { forget: subset(bigAll, forgetIdx), retain: subset(bigAll, Array.from({ length: 320 }, (_, i) => i).filter((i) => !forgetIdx.includes(i))) }

const base = (objective: Partial<ObjectiveConfig>, o: Partial<ParetoOptions>): ParetoOptions => ({
  objective: { theta: 0.9, lambda: 1e-3, lossK: 'forward-kl', temperature: 1, ...objective },
  optimizer: 'adam',
  lr: 0.02,
  epochs: 40,
  batch: 0,
  surgery: false,
  projectNorm: null,
  retainFloor: 0.95,
  seed: 1,
  test,
  ...o,
})

/** The rule, recomputed: lowest distance among epochs with retain accuracy ≥ floor, earliest on ties; null if none. */
function keptByRule(epochs: ParetoEpoch[], floor: number): number | null {
  let best: ParetoEpoch | null = null
  for (const e of epochs) if (e.retainAccuracy >= floor && (best === null || e.forgetDistance < best.forgetDistance)) best = e
  return best?.epoch ?? null
}

describe('Pareto fine-tuning', () => {
  for (const kind of ['logreg', 'mlp'] as const) {
    it(`${kind}: θ = 0.9 lowers the forget distance ≥ 3× with retain accuracy ≥ 0.95`, async () => {
      const { model, params: wStar } = trainedClassifier(kind, sets.retain, 150, kind === 'mlp' ? { hidden: 16 } : {})
      const before = weights64(wStar)
      const start = confidenceSummary(model, wStar, sets.forget)
      expect(start.distance).toBeGreaterThan(0.5) // w* is confident on D_f
      const seen: number[] = []
      // The MLP's path oscillates more (the kept-epoch rule is what makes that usable): a larger step, longer.
      const epochs = kind === 'mlp' ? 60 : 40
      const res = await paretoFinetune(model, wStar, sets, base({}, { epochs, lr: kind === 'mlp' ? 0.05 : 0.02, onEpoch: (e) => seen.push(e.epoch) }))
      expect(seen).toEqual(Array.from({ length: epochs + 1 }, (_, i) => i))
      expect(res.epochs[0]!.forgetDistance).toBeCloseTo(start.distance, 5)
      expect(res.kept.epoch).toBe(keptByRule(res.epochs, 0.95))
      expect(res.kept.reason).toMatch(/lowest forget distance/)
      const kept = res.epochs[res.kept.epoch]!
      expect(kept.retainAccuracy).toBeGreaterThanOrEqual(0.95)
      expect(start.distance / kept.forgetDistance).toBeGreaterThanOrEqual(3)
      // The returned parameters are the kept epoch's.
      expect(confidenceSummary(model, res.params, sets.forget).distance).toBeCloseTo(kept.forgetDistance, 6)
      // w* is not modified.
      expectClose(flat64(weights64(wStar), Object.keys(before)), flat64(before, Object.keys(before)), 0, 'w*')
      console.log(`${kind}: distance ${start.distance.toFixed(4)} → ${kept.forgetDistance.toFixed(4)} (epoch ${kept.epoch}), retain ${kept.retainAccuracy}, test ${kept.testAccuracy}, ${(kept.seconds * 1000).toFixed(1)} ms/epoch`)
      disposeParams(res.params)
      disposeParams(wStar)
    })
  }

  for (const surgery of [true, false]) {
    it(`one SGD step is ${surgery ? 'the float64 PCGrad' : 'the plain sum'} of the two parts plus λw`, async () => {
      const { model, params: wStar } = trainedClassifier('logreg', bigSets.retain, 60)
      const objective: ObjectiveConfig = { theta: 0.8, lambda: 0.01, lossK: 'reverse-kl', temperature: 2 }
      const lr = 0.5
      const res = await paretoFinetune(model, wStar, bigSets, base(objective, { optimizer: 'sgd', lr, epochs: 1, surgery, retainFloor: 0 }))
      expect(res.kept.epoch).toBe(1) // the step lowered the distance, so the returned model is w after it
      expect(res.epochs[1]!.conflicts).toBe(1)

      const w = weights64(wStar)
      const names = Object.keys(w)
      const gK = flat64(numericGradient(w, (x) => objective.theta * objective64('logreg', x, bigSets.forget, bigSets.retain, 4, objective).lossK), names)
      const gA = flat64(numericGradient(w, (x) => (1 - objective.theta) * objective64('logreg', x, bigSets.forget, bigSets.retain, 4, objective).lossA), names)
      const dot = gK.reduce((s, v, i) => s + v * gA[i]!, 0)
      expect(dot).toBeLessThan(0) // the two parts conflict at w*
      const kk = gK.reduce((s, v) => s + v * v, 0)
      const aa = gA.reduce((s, v) => s + v * v, 0)
      const w0 = flat64(w, names)
      const plain = w0.map((wi, i) => gK[i]! + gA[i]! + objective.lambda * wi)
      const pc = w0.map((wi, i) => gK[i]! - (dot / aa) * gA[i]! + gA[i]! - (dot / kk) * gK[i]! + objective.lambda * wi)
      const expected = surgery ? pc : plain
      const applied = flat64(weights64(res.params), names).map((wi, i) => (w0[i]! - wi) / lr)
      expectClose(applied, expected, 2e-3, 'applied update / lr')
      // The two directions differ by far more than the tolerance: the check tells them apart.
      const gap = norm64(plain.map((v, i) => v - pc[i]!))
      expect(gap).toBeGreaterThan(0.05 * norm64(expected))
      disposeParams(res.params)
      disposeParams(wStar)
    })
  }

  it('projection keeps ‖w‖ ≤ C after every step', async () => {
    const { model, params: wStar } = trainedClassifier('logreg', sets.retain, 60)
    const norm0 = norm64(flat64(weights64(wStar), Object.keys(wStar.weights)))
    const C = 0.5 * norm0
    const res = await paretoFinetune(model, wStar, sets, base({}, { optimizer: 'sgd', lr: 0.05, epochs: 4, projectNorm: C, retainFloor: 0 }))
    expect(res.epochs[0]!.weightNorm).toBeCloseTo(norm0, 4) // w* itself is not projected
    for (const e of res.epochs.slice(1)) expect(e.weightNorm).toBeLessThanOrEqual(C * (1 + 1e-5))
    expect(res.epochs[1]!.weightNorm).toBeGreaterThan(C * (1 - 1e-4)) // the step left the ball; the projection brought it to the sphere
    disposeParams(res.params)
    disposeParams(wStar)
  })

  it('no epoch meets the floor: keeps w* (an untrained model, floor 0.99)', async () => {
    const { model, params: wStar } = trainedClassifier('logreg', sets.retain, 0)
    const before = flat64(weights64(wStar), Object.keys(wStar.weights))
    const res = await paretoFinetune(model, wStar, sets, base({}, { lr: 1e-4, epochs: 2, retainFloor: 0.99 }))
    expect(res.epochs.every((e) => e.retainAccuracy < 0.99)).toBe(true)
    expect(res.kept.epoch).toBe(0)
    expect(res.kept.reason).toMatch(/no epoch met the retain-accuracy floor 0.99: kept w\*/)
    expectClose(flat64(weights64(res.params), Object.keys(wStar.weights)), before, 0, 'kept = w*')
    disposeParams(res.params)
    disposeParams(wStar)
  })

  it('minibatches: deterministic for a seed, the order changes with it, cancellation stops early, no tensor leaks', async () => {
    const { model, params: wStar } = trainedClassifier('logreg', sets.retain, 60)
    const o = base({}, { epochs: 3, batch: 32, surgery: true, retainFloor: 0 })
    const strip = (es: ParetoEpoch[]) => es.map(({ seconds: _, ...rest }) => rest)
    const tensorsBefore = tf.memory().numTensors
    const a = await paretoFinetune(model, wStar, sets, o)
    const b = await paretoFinetune(model, wStar, sets, o)
    const c = await paretoFinetune(model, wStar, sets, { ...o, seed: 2 })
    expect(strip(a.epochs)).toEqual(strip(b.epochs))
    expect(strip(c.epochs)).not.toEqual(strip(a.epochs))
    // 152 rows in batches of 32: 5 steps an epoch, so the conflict fraction is a multiple of 1/5.
    for (const e of a.epochs.slice(1)) expect(Math.abs(e.conflicts * 5 - Math.round(e.conflicts * 5))).toBeLessThan(1e-9)
    let calls = 0
    const d = await paretoFinetune(model, wStar, sets, { ...o, cancelled: () => ++calls > 1 })
    expect(d.epochs.map((e) => e.epoch)).toEqual([0, 1])
    for (const r of [a, b, c, d]) disposeParams(r.params)
    expect(tf.memory().numTensors).toBe(tensorsBefore) // nothing leaked: every gradient, optimizer state and copy is freed
    disposeParams(wStar)
  })

  it('refuses empty sets with what to do', async () => {
    const { model, params } = trainedClassifier('logreg', sets.retain, 0)
    await expect(paretoFinetune(model, params, { forget: subset(all, []), retain: sets.retain }, base({}, {}))).rejects.toThrow(/D_f is empty/)
    disposeParams(params)
  })
})
