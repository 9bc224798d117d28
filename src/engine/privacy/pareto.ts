// Algorithm 1 of test-time privacy (docs/privacy.md): Pareto fine-tuning. Starting from the
// trained weights w*, minimise F(w) = θ·L_K(D_f) + (1 − θ)·L_A(D_r) + (λ/2)‖w‖² with Adam or SGD,
// measure every epoch, and keep the epoch whose confidence distance on D_f is lowest among those
// that keep the retain accuracy above a floor (w* itself, epoch 0, is a candidate: the kept model
// is never worse than w* by that rule).
//
// Each step's gradient is built from its two parts, g_K = ∇(θ·L_K) over all of D_f and
// g_A = ∇((1 − θ)·L_A) over the step's rows of D_r, each accumulated over chunks of CHUNK images
// so that memory stays bounded whatever the set sizes (batch 0 = the paper's full batch: one step
// per epoch over all of D_r). With gradient surgery (PCGrad, Yu et al. 2020) a conflicting pair
// (⟨g_K, g_A⟩ < 0) is replaced by each part projected onto the normal plane of the other, both
// projections using the ORIGINAL other part; then λw is added: the regulariser is never projected.
// Optional projection: after each step, ‖w‖ > C scales the whole vector w back to norm C (the
// bound of the certificate is on the whole vector, not on each tensor as the official code does).
import { epochOrder } from '../../data/shuffle.js'
import { tf } from '../backend.js'
import { cloneParams, disposeParams, type Classifier, type ClassifierParams } from '../classifiers/classifier.js'
import { accuracyOf, batchTensor, predictLogits, rangeIndices, rowCount, type ImageRows } from '../classifiers/rows.js'
import { makeOptimizer, weightGrads } from '../classifiers/train.js'
import {
  confidenceDistance,
  objectiveLogits,
  objectiveValue,
  retainLoss,
  softmaxRows,
  squaredWeightNorm,
  uncertaintyLoss,
} from './objective.js'
import type { LabelledRows, ObjectiveConfig, ParetoEpoch, PrivacySets } from './types.js'

/** Images per forward/backward when a gradient is accumulated over a set. */
export const CHUNK = 256

export interface ParetoOptions {
  objective: ObjectiveConfig
  /** Adam is plain Adam (λ is already in F, so no decoupled decay); SGD has no momentum. */
  optimizer: 'adam' | 'sgd'
  lr: number
  epochs: number
  /** Rows of D_r per step (D_f whole every step); 0 = full batch, one step per epoch. */
  batch: number
  surgery: boolean
  /** Project w to ‖w‖ ≤ C after every step; null = off. */
  projectNorm: number | null
  /** The kept epoch's retain accuracy must be at least this (0–1). */
  retainFloor: number
  /** The order of D_r in each epoch (with batch > 0). */
  seed: number
  /** Measured every epoch when given (testAccuracy is null otherwise). */
  test?: LabelledRows
  onEpoch?: (e: ParetoEpoch) => void
  /** Checked before every epoch: true stops, and the epochs done so far decide the kept model. */
  cancelled?: () => boolean
}

export interface ParetoResult {
  /** A copy of the kept epoch's parameters (the caller disposes it). */
  params: ClassifierParams
  epochs: ParetoEpoch[]
  kept: { epoch: number; reason: string }
}

type Grads = Record<string, tf.Tensor>

/**
 * ∇ of weight·(mean over the rows at `indices` of `loss`), accumulated over chunks of CHUNK rows
 * (each chunk's mean weighted by its share of the rows, so the sum is the gradient of the mean).
 */
function accumulatedGradient(
  model: Classifier,
  params: ClassifierParams,
  rows: ImageRows,
  indices: ArrayLike<number>,
  weight: number,
  temperature: number,
  loss: (logits: tf.Tensor2D, labels: Int32Array) => tf.Scalar,
): Grads {
  const n = indices.length
  let sum: Grads = {}
  for (let start = 0; start < n; start += CHUNK) {
    const idx = Array.prototype.slice.call(indices, start, Math.min(n, start + CHUNK)) as number[]
    const { images, labels } = batchTensor(rows, idx)
    const share = (weight * idx.length) / n
    const { value, grads } = weightGrads(params, () =>
      tf.tidy(() => tf.mul(loss(objectiveLogits(model, params, images, temperature), labels), share) as tf.Scalar),
    )
    const next = addGrads(sum, grads)
    tf.dispose([images, value, ...Object.values(sum), ...Object.values(grads)])
    sum = next
  }
  return sum
}

/** a + b by name (new tensors; a name in only one of them is copied). */
function addGrads(a: Grads, b: Grads): Grads {
  const out: Grads = {}
  for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[name]
    const y = b[name]
    out[name] = x && y ? tf.add(x, y) : tf.clone((x ?? y)!)
  }
  return out
}

/** ⟨a, b⟩ over every tensor the two share, accumulated in float64 from the per-tensor float32 sums. */
function dot(a: Grads, b: Grads): number {
  let s = 0
  for (const [name, x] of Object.entries(a)) {
    const y = b[name]
    if (!y) continue
    const t = tf.tidy(() => tf.sum(tf.mul(x, y)))
    s += t.dataSync()[0]!
    t.dispose()
  }
  return s
}

/**
 * The step direction from the two parts of ∇F and the weights: g_K + g_A + λw, or with surgery on
 * a conflicting pair (g_K − (⟨g_K,g_A⟩/‖g_A‖²)·g_A) + (g_A − (⟨g_K,g_A⟩/‖g_K‖²)·g_K) + λw.
 */
export function combineGradients(
  gK: Grads,
  gA: Grads,
  weights: Record<string, tf.Variable>,
  lambda: number,
  surgery: boolean,
): { grads: Grads; conflict: boolean } {
  const inner = dot(gK, gA)
  const conflict = inner < 0
  const project = surgery && conflict
  const kk = project ? dot(gK, gK) : 1
  const aa = project ? dot(gA, gA) : 1
  const grads: Grads = {}
  for (const [name, w] of Object.entries(weights)) {
    const k = gK[name]
    const a = gA[name]
    grads[name] = tf.tidy(() => {
      let g: tf.Tensor = tf.mul(w, lambda)
      if (k) g = tf.add(g, project && a && aa > 0 ? tf.sub(k, tf.mul(a, inner / aa)) : k)
      if (a) g = tf.add(g, project && k && kk > 0 ? tf.sub(a, tf.mul(k, inner / kk)) : a)
      return g
    })
  }
  return { grads, conflict }
}

/** ‖w‖ over every trainable weight. */
export function weightNorm(params: ClassifierParams): number {
  const s = squaredWeightNorm(params)
  const v = Math.sqrt(s.dataSync()[0]!)
  s.dispose()
  return v
}

/** Scales every weight by C/‖w‖ when ‖w‖ > C (the projection onto the ball of radius C). */
export function projectToBall(params: ClassifierParams, C: number): void {
  const norm = weightNorm(params)
  if (norm <= C) return
  for (const w of Object.values(params.weights)) tf.tidy(() => w.assign(tf.mul(w, C / norm)))
}

/** F's terms, the forget distance and the accuracies at the current weights (eval mode, batched). */
function measure(
  model: Classifier,
  params: ClassifierParams,
  sets: PrivacySets,
  o: ParetoOptions,
): Omit<ParetoEpoch, 'epoch' | 'conflicts' | 'seconds'> {
  const k = model.shape.classes
  const forgetLogits = predictLogits(model, params, sets.forget)
  const retainLogits = predictLogits(model, params, sets.retain)
  return {
    objective: objectiveValue(forgetLogits, retainLogits, sets.retain.labels, params, k, o.objective),
    forgetDistance: confidenceDistance(softmaxRows(forgetLogits, k), k),
    forgetAccuracy: accuracyOf(forgetLogits, sets.forget.labels, k),
    retainAccuracy: accuracyOf(retainLogits, sets.retain.labels, k),
    testAccuracy: o.test ? accuracyOf(predictLogits(model, params, o.test), o.test.labels, k) : null,
    weightNorm: weightNorm(params),
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Algorithm 1 from w* (left untouched); deterministic for a given seed. */
export async function paretoFinetune(
  model: Classifier,
  wStar: ClassifierParams,
  sets: PrivacySets,
  o: ParetoOptions,
): Promise<ParetoResult> {
  const nf = rowCount(sets.forget)
  const nr = rowCount(sets.retain)
  if (nf === 0) throw new Error('the protected set D_f is empty: protect at least one training image')
  if (nr === 0) throw new Error('the retained set D_r is empty: the protected set covers the whole training split')
  const { theta, lambda, lossK, temperature } = o.objective
  const params = cloneParams(wStar)
  const optimizer = makeOptimizer(
    params,
    o.optimizer === 'adam' ? { kind: 'adamw', lr: o.lr, weightDecay: 0 } : { kind: 'sgd', lr: o.lr, momentum: 0, weightDecay: 0 },
  )
  const forgetAll = rangeIndices(0, nf)
  const epochs: ParetoEpoch[] = []
  let best: { epoch: number; distance: number; params: ClassifierParams } | null = null
  const consider = (e: ParetoEpoch): void => {
    if (e.retainAccuracy < o.retainFloor || (best && e.forgetDistance >= best.distance)) return
    if (best) disposeParams(best.params)
    best = { epoch: e.epoch, distance: e.forgetDistance, params: cloneParams(params) }
  }
  const record = (e: ParetoEpoch): void => {
    epochs.push(e)
    consider(e)
    o.onEpoch?.(e)
  }
  try {
    let t0 = performance.now()
    record({ epoch: 0, ...measure(model, params, sets, o), conflicts: 0, seconds: (performance.now() - t0) / 1000 })
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      await yieldToEventLoop()
      if (o.cancelled?.()) break
      t0 = performance.now()
      const order = o.batch > 0 ? epochOrder(nr, o.seed, epoch) : rangeIndices(0, nr)
      const stepRows = o.batch > 0 ? o.batch : nr
      let steps = 0
      let conflicts = 0
      for (let start = 0; start < nr; start += stepRows) {
        const retainIdx = order.subarray(start, Math.min(nr, start + stepRows))
        const gK = accumulatedGradient(model, params, sets.forget, forgetAll, theta, temperature, (z) => uncertaintyLoss(z, lossK))
        const gA = accumulatedGradient(model, params, sets.retain, retainIdx, 1 - theta, temperature, retainLoss)
        const { grads, conflict } = combineGradients(gK, gA, params.weights, lambda, o.surgery)
        optimizer.applyGradients(grads)
        tf.dispose([...Object.values(gK), ...Object.values(gA), ...Object.values(grads)])
        if (o.projectNorm !== null) projectToBall(params, o.projectNorm)
        steps++
        if (conflict) conflicts++
      }
      record({ epoch, ...measure(model, params, sets, o), conflicts: conflicts / steps, seconds: (performance.now() - t0) / 1000 })
    }
  } catch (err) {
    if (best) disposeParams((best as { params: ClassifierParams }).params)
    throw err
  } finally {
    optimizer.dispose()
    disposeParams(params)
  }
  const kept = best as { epoch: number; distance: number; params: ClassifierParams } | null
  if (kept === null)
    return {
      params: cloneParams(wStar),
      epochs,
      kept: { epoch: 0, reason: `no epoch met the retain-accuracy floor ${o.retainFloor}: kept w*` },
    }
  const reason =
    kept.epoch === 0
      ? `no fine-tuned epoch had a lower forget distance than w* with retain accuracy ≥ ${o.retainFloor}: kept w*`
      : `lowest forget distance (${kept.distance.toPrecision(4)}) among the epochs with retain accuracy ≥ ${o.retainFloor}`
  return { params: kept.params, epochs, kept: { epoch: kept.epoch, reason } }
}
