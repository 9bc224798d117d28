// Training loss and reconstruction metrics for the sparse layers (shared/research/mxd.md).
// The loss is differentiable (plain tf ops); the metrics accumulator reads values back and sums
// in float64 so that millions of tokens do not lose precision.
import { tf } from '../backend.js'
import './autodiff.js' // gradients of the plain tf ops the loss uses (Sub, Square, RealDiv, Mean)

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

/**
 * Reconstruction metrics over many batches, in float64:
 *  - nmse = Σ‖ŷ−y‖² / Σ‖y‖²;
 *  - fvu = Σ‖ŷ−y‖² / Σ‖y − μ‖², μ the mean over every token seen (from running sums);
 *  - explainedVariance as SAELens's evals define it: per token 1 − ‖y−ŷ‖² / ‖y − ȳ_batch‖²
 *    (centred on its batch's mean), averaged over all tokens;
 *  - l0 = mean non-zeros per token (when codes are given).
 */
export class ReconstructionMetrics {
  tokens = 0
  private residual = 0
  private targetSquares = 0
  private targetSum: Float64Array | null = null
  private explainedSum = 0
  private nonZeros = 0
  private codedTokens = 0

  add(yHat: tf.Tensor2D, target: tf.Tensor2D, codes?: tf.Tensor2D): void {
    const [B, O] = target.shape
    const y = target.dataSync()
    const p = yHat.dataSync()
    const mean = new Float64Array(O)
    for (let i = 0; i < B * O; i++) mean[i % O]! += y[i]! / B
    this.targetSum ??= new Float64Array(O)
    for (let b = 0; b < B; b++) {
      let res = 0
      let centred = 0
      for (let o = 0; o < O; o++) {
        const t = y[b * O + o]!
        res += (t - p[b * O + o]!) ** 2
        centred += (t - mean[o]!) ** 2
        this.targetSquares += t * t
        this.targetSum[o]! += t
      }
      this.residual += res
      this.explainedSum += 1 - res / centred
    }
    this.tokens += B
    if (codes) {
      const a = codes.dataSync()
      for (let i = 0; i < a.length; i++) if (a[i] !== 0) this.nonZeros++
      this.codedTokens += codes.shape[0]
    }
  }

  get nmse(): number {
    return this.residual / this.targetSquares
  }

  get fvu(): number {
    const sum = this.targetSum ?? new Float64Array(0)
    const meanSquare = sum.reduce((acc, s) => acc + s * s, 0) / this.tokens
    return this.residual / (this.targetSquares - meanSquare)
  }

  get explainedVariance(): number {
    return this.explainedSum / this.tokens
  }

  get l0(): number {
    return this.nonZeros / this.codedTokens
  }
}
