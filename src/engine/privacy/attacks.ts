// Attacks on a protected set D_f: each perturbs the protected images a little and checks whether
// the model becomes CONFIDENT on them again, i.e. whether the induced uncertainty survives. As
// the official code, the gradient attacks ascend logsumexp_c z_c (the log of the softmax's
// normaliser: large when one logit dominates), on the deployed model (eval mode, temperature 1):
//   FGSM      x' = x + r·sign(∇_x lse)                                  one step of the radius r
//   PGD       x_{t+1} = Π(x_t + α·sign(∇_x lse(x_t))), `steps` times      Π: the L∞ ball of r around x
//   Gaussian  x' = x + r·N(0, I)                                         seeded
// Every perturbed image is clamped to [0, 1], the range of the stored pixels, so an attack can
// only produce images that could have been stored. Images go EVAL_BATCH at a time.
import { mixSeeds } from '../../data/shuffle.js'
import type { AttackConfig } from '../../shared/privacy.js'
import { tf } from '../backend.js'
import type { Classifier, ClassifierParams } from '../classifiers/classifier.js'
import { batchTensor, EVAL_BATCH, predictLogits, rangeIndices, rowCount } from '../classifiers/rows.js'
import { confidenceDistance, maxOfRow, softmaxRows } from './objective.js'
import type { AttackResult, LabelledRows } from './types.js'

/** Σ over the batch of logsumexp of the logits (each image's term depends on that image only). */
const summedLse = (model: Classifier, params: ClassifierParams, x: tf.Tensor4D): tf.Scalar =>
  tf.sum(tf.logSumExp(model.forward(params, x, { training: false }), -1))

/** ∂ lse(f(x_i)) / ∂x_i for every image of the batch. */
export function lseInputGradient(model: Classifier, params: ClassifierParams, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.grad((xi: tf.Tensor) => summedLse(model, params, xi as tf.Tensor4D))(x) as tf.Tensor4D)
}

/** Eval-mode logsumexp of the logits per image (what the attacks ascend). */
export function lsePerImage(model: Classifier, params: ClassifierParams, x: tf.Tensor4D): Float32Array {
  const t = tf.tidy(() => tf.logSumExp(model.forward(params, x, { training: false }), -1))
  const out = t.dataSync() as Float32Array
  t.dispose()
  return out
}

const clampPixels = (x: tf.Tensor): tf.Tensor4D => tf.clipByValue(x, 0, 1) as tf.Tensor4D

/** FGSM: clamp(x + r·sign(∇_x lse), 0, 1). */
export function fgsm(model: Classifier, params: ClassifierParams, x: tf.Tensor4D, radius: number): tf.Tensor4D {
  return tf.tidy(() => clampPixels(tf.add(x, tf.mul(tf.sign(lseInputGradient(model, params, x)), radius))))
}

/** PGD: `steps` signed steps of `stepSize`, each projected to the L∞ ball of `radius` around x and to [0, 1]. */
export function pgd(
  model: Classifier,
  params: ClassifierParams,
  x: tf.Tensor4D,
  o: { radius: number; steps: number; stepSize: number },
): tf.Tensor4D {
  const lo = tf.tidy(() => tf.maximum(tf.sub(x, o.radius), 0))
  const hi = tf.tidy(() => tf.minimum(tf.add(x, o.radius), 1))
  let xt = tf.clone(x)
  for (let s = 0; s < o.steps; s++) {
    const next = tf.tidy(
      () => tf.minimum(tf.maximum(tf.add(xt, tf.mul(tf.sign(lseInputGradient(model, params, xt)), o.stepSize)), lo), hi) as tf.Tensor4D,
    )
    xt.dispose()
    xt = next
  }
  tf.dispose([lo, hi])
  return xt
}

/** Gaussian noise: clamp(x + r·N(0, I), 0, 1), the noise drawn with `seed`. */
export function gaussianPerturbation(x: tf.Tensor4D, radius: number, seed: number): tf.Tensor4D {
  return tf.tidy(() => clampPixels(tf.add(x, tf.mul(tf.randomNormal(x.shape, 0, 1, 'float32', seed), radius))))
}

/** The max probability per image after `perturb` (images of `rows`, EVAL_BATCH at a time; chunk = the batch's index). */
function attackedProbabilities(
  model: Classifier,
  params: ClassifierParams,
  rows: LabelledRows,
  perturb: (x: tf.Tensor4D, chunk: number) => tf.Tensor4D,
): Float32Array {
  const n = rowCount(rows)
  const k = model.shape.classes
  const out = new Float32Array(n * k)
  for (let start = 0, chunk = 0; start < n; start += EVAL_BATCH, chunk++) {
    const { images } = batchTensor(rows, rangeIndices(start, Math.min(EVAL_BATCH, n - start)))
    const attacked = perturb(images, chunk)
    const probs = tf.tidy(() => tf.softmax(model.forward(params, attacked, { training: false })))
    out.set(probs.dataSync() as Float32Array, start * k)
    tf.dispose([images, attacked, probs])
  }
  return out
}

/** Every attack `config` names (Gaussian, FGSM, PGD, in that order) on the protected set `forget`. */
export function runAttacks(model: Classifier, params: ClassifierParams, forget: LabelledRows, config: AttackConfig): AttackResult[] {
  const k = model.shape.classes
  const n = rowCount(forget)
  const distanceBefore = confidenceDistance(softmaxRows(predictLogits(model, params, forget), k), k)
  const result = (kind: AttackResult['kind'], radius: number, steps: number, stepSize: number, probs: Float32Array): AttackResult => {
    let confident = 0
    for (let i = 0; i < n; i++) if (maxOfRow(probs, i, k) > config.confidentAbove) confident++
    return {
      kind,
      radius,
      steps,
      stepSize,
      distanceBefore,
      distanceAfter: confidenceDistance(probs, k),
      confidentFraction: n === 0 ? 0 : confident / n,
      confidentAbove: config.confidentAbove,
    }
  }
  const out: AttackResult[] = []
  if (config.gaussian) {
    const { radius, seed } = config.gaussian
    out.push(
      result(
        'gaussian',
        radius,
        1,
        0,
        attackedProbabilities(model, params, forget, (x, chunk) => gaussianPerturbation(x, radius, mixSeeds(seed, chunk))),
      ),
    )
  }
  if (config.fgsm) {
    const { radius } = config.fgsm
    out.push(
      result(
        'fgsm',
        radius,
        1,
        radius,
        attackedProbabilities(model, params, forget, (x) => fgsm(model, params, x, radius)),
      ),
    )
  }
  if (config.pgd) {
    const p = config.pgd
    out.push(
      result(
        'pgd',
        p.radius,
        p.steps,
        p.stepSize,
        attackedProbabilities(model, params, forget, (x) => pgd(model, params, x, p)),
      ),
    )
  }
  return out
}
