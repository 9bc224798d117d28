// The θ-Pareto objective of test-time privacy (docs/privacy.md) as tfjs losses:
//   F(w) = θ·L_K(w, D_f) + (1 − θ)·L_A(w, D_r) + (λ/2)‖w‖²,   logits z = f_w(x) / temperature
// L_K pulls the model's output on the protected set D_f towards the uniform distribution U over
// the K classes; L_A is the cross-entropy on the rest of the data D_r; ‖w‖ is the norm of ALL
// trainable weights as one vector (as the certificate's bound assumes). Every loss goes through
// logSoftmax, so no exp overflows and no log(0) appears however confident the model is.
//
// The forwards run in eval mode: F is then a function of w alone (no BatchNorm statistics of the
// batch), which is what both Pareto fine-tuning and the Newton step of the certificate minimise.
import { tf } from '../backend.js'
import type { Classifier, ClassifierParams } from '../classifiers/classifier.js'
import { crossEntropy } from '../ops.js'
import type { ObjectiveConfig, ObjectiveValue, UncertaintyLoss } from './types.js'

/**
 * L_K of logits [n, K], the mean over rows of
 *   forward-kl: KL(p ‖ U) = log K + Σ_c p_c log p_c
 *   reverse-kl: KL(U ‖ p) = −log K − (1/K) Σ_c log p_c
 *   squared:    ‖p − U‖² = Σ_c (p_c − 1/K)²
 * Each is 0 exactly when p is uniform. 0 for an empty set.
 */
export function uncertaintyLoss(logits: tf.Tensor2D, kind: UncertaintyLoss): tf.Scalar {
  return tf.tidy(() => {
    const [n, k] = logits.shape
    if (n === 0) return tf.scalar(0)
    const logp = tf.logSoftmax(logits)
    let perRow: tf.Tensor1D
    if (kind === 'forward-kl') perRow = tf.add(tf.sum(tf.mul(tf.exp(logp), logp), -1), Math.log(k))
    else if (kind === 'reverse-kl') perRow = tf.sub(tf.mul(tf.sum(logp, -1), -1 / k), Math.log(k))
    else perRow = tf.sum(tf.square(tf.sub(tf.exp(logp), 1 / k)), -1)
    return tf.mean(perRow) as tf.Scalar
  })
}

/** The logits F sees: the eval-mode forward divided by the temperature. */
export function objectiveLogits(model: Classifier, params: ClassifierParams, images: tf.Tensor4D, temperature: number): tf.Tensor2D {
  return tf.tidy(() => {
    const z = model.forward(params, images, { training: false })
    return temperature === 1 ? z : (tf.div(z, temperature) as tf.Tensor2D)
  })
}

/** ‖w‖² over every trainable weight of `params`, as one vector. */
export function squaredWeightNorm(params: ClassifierParams): tf.Scalar {
  return tf.tidy(() => tf.addN(Object.values(params.weights).map((v) => tf.sum(tf.square(v)))) as tf.Scalar)
}

/** Mean cross-entropy of labelled logits; 0 for an empty set. */
export const retainLoss = (logits: tf.Tensor2D, labels: Int32Array): tf.Scalar =>
  labels.length === 0 ? tf.scalar(0) : crossEntropy(logits, labels)

export interface ObjectiveTerms {
  /** F(w) = θ·lossK + (1 − θ)·lossA + regulariser */
  total: tf.Scalar
  /** L_K on D_f (unweighted mean). */
  lossK: tf.Scalar
  /** L_A = mean cross-entropy on D_r (unweighted). */
  lossA: tf.Scalar
  /** (λ/2)‖w‖² */
  regulariser: tf.Scalar
}

/**
 * F and its parts at the current weights, differentiable (call inside tf.variableGrads or
 * tf.grads; the caller disposes the four scalars). The images are whole sets or batches of them.
 */
export function objectiveTerms(
  model: Classifier,
  params: ClassifierParams,
  forgetImages: tf.Tensor4D,
  retain: { images: tf.Tensor4D; labels: Int32Array },
  cfg: ObjectiveConfig,
): ObjectiveTerms {
  const lossK = tf.tidy(() => uncertaintyLoss(objectiveLogits(model, params, forgetImages, cfg.temperature), cfg.lossK))
  const lossA = tf.tidy(() => retainLoss(objectiveLogits(model, params, retain.images, cfg.temperature), retain.labels))
  const regulariser = tf.tidy(() => tf.mul(squaredWeightNorm(params), cfg.lambda / 2) as tf.Scalar)
  const total = tf.tidy(() => tf.addN([tf.mul(lossK, cfg.theta), tf.mul(lossA, 1 - cfg.theta), regulariser]) as tf.Scalar)
  return { total, lossK, lossA, regulariser }
}

/**
 * F's value from the eval-mode logits of the two sets (plain, temperature 1, [n × K] row-major,
 * as rows.ts predictLogits gives them) and the weights: the same tfjs losses on the whole sets.
 */
export function objectiveValue(
  forgetLogits: Float32Array,
  retainLogits: Float32Array,
  retainLabels: ArrayLike<number>,
  params: ClassifierParams,
  classes: number,
  cfg: ObjectiveConfig,
): ObjectiveValue {
  const scalars = tf.tidy(() => {
    const zf = tf.div(tf.tensor2d(forgetLogits, [forgetLogits.length / classes, classes]), cfg.temperature) as tf.Tensor2D
    const zr = tf.div(tf.tensor2d(retainLogits, [retainLogits.length / classes, classes]), cfg.temperature) as tf.Tensor2D
    return [
      uncertaintyLoss(zf, cfg.lossK),
      retainLoss(zr, Int32Array.from(retainLabels)),
      tf.mul(squaredWeightNorm(params), cfg.lambda / 2),
    ]
  })
  const [lossK, lossA, regulariser] = scalars.map((s) => s.dataSync()[0]!) as [number, number, number]
  tf.dispose(scalars)
  return { total: cfg.theta * lossK + (1 - cfg.theta) * lossA + regulariser, lossK, lossA, regulariser }
}

/**
 * The confidence distance of a set: the mean over its rows of max(0, max_c p_c − 1/K), from the
 * probabilities [n × K] row-major (0 = perfectly uniform; 1 − 1/K = one-hot everywhere). 0 when empty.
 */
export function confidenceDistance(probabilities: Float32Array, classes: number): number {
  const n = probabilities.length / classes
  if (n === 0) return 0
  let sum = 0
  for (let i = 0; i < n; i++) sum += Math.max(0, maxOfRow(probabilities, i, classes) - 1 / classes)
  return sum / n
}

/** The largest value of row i of an [n × K] row-major array. */
export function maxOfRow(values: Float32Array, i: number, classes: number): number {
  let m = -Infinity
  for (let c = 0; c < classes; c++) m = Math.max(m, values[i * classes + c]!)
  return m
}

/** Row-wise softmax of [n × K] logits in float64, stored back as float32 (the max is subtracted first). */
export function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(logits.length)
  for (let i = 0; i < logits.length / classes; i++) {
    const m = maxOfRow(logits, i, classes)
    let s = 0
    for (let c = 0; c < classes; c++) s += Math.exp(logits[i * classes + c]! - m)
    for (let c = 0; c < classes; c++) out[i * classes + c] = Math.exp(logits[i * classes + c]! - m) / s
  }
  return out
}
