// Training loss and reconstruction metrics for the sparse layers (docs/science/mxd.md#training-objective,
// docs/science/metrics.md).
// The loss is differentiable (plain tf ops); the metrics accumulator reads values back and sums
// in float64 so that millions of tokens do not lose precision.
import { tf } from '../backend.js'

/**
 * The official training loss: mean over batch and output dims of (ŷ − y*)² / ‖y*_b‖₂, each token's
 * squared error divided by its target's L2 norm (not squared), as in MxD's sparse_autoencoder.py.
 */
export function mxdLoss(yHat: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.sum(tf.square(target), 1, true))
    return tf.mean(tf.div(tf.square(tf.sub(yHat, target)), norm))
  })
}

/** Normalised MSE, Σ‖ŷ − y*‖² / Σ‖y*‖² over the batch: what a user reads (0 = perfect, 1 = predicting 0). */
export function normalizedMse(yHat: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.div(tf.sum(tf.squaredDifference(yHat, target)), tf.sum(tf.square(target))))
}

/** Fraction of variance unexplained, Σ‖y − ŷ‖² / Σ‖y − ȳ‖², ȳ the batch mean (0 = perfect, 1 = predicting ȳ). */
export function fvu(yHat: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.div(tf.sum(tf.squaredDifference(yHat, target)), tf.sum(tf.squaredDifference(target, tf.mean(target, 0, true)))))
}

/** L0: mean number of non-zero code entries per token. */
export function l0(codes: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sum(tf.cast(tf.notEqual(codes, 0), 'float32'), 1)))
}
