// entmax-1.5 over the last axis (Peters, Niculae & Martins 2019, "Sparse Sequence-to-Sequence
// Models"), computed exactly as the `entmax` package's entmax15 (sort-based, no bisection):
//
//   p = argmax_{p ∈ Δ}  pᵀz + H_1.5(p)   ⇒   p_i = [z_i/2 − τ]₊²,  τ chosen so that Σ p_i = 1.
//
// With x = (z − max z)/2 sorted descending (x₍₁₎ ≥ x₍₂₎ ≥ …), suppose the support is the top k.
// Then Σ_{i≤k} (x₍ᵢ₎ − τ)² = 1 is a quadratic in τ whose smaller root is
//   τ_k = mean_k − sqrt((1 − ss_k)/k),   mean_k = (1/k)Σx₍ᵢ₎,  ss_k = Σ(x₍ᵢ₎ − mean_k)²,
// and the true support size k* is the number of k with τ_k ≤ x₍ₖ₎ (a prefix of 1…N).
//
// Gradient (the Jacobian is symmetric): on the support p_i = (x_i − τ)², so with s = sqrt(p)
// (s_i = 0 off the support) dp_i/dz_j = s_i δ_ij − 2 s_i ∂τ/∂z_j, and Σ_i dp_i = 0 gives
// ∂τ/∂z_j = s_j / (2 Σ s). Hence J = diag(s) − s sᵀ / Σs and
//   grad_z = s ∗ (g − (Σ s g) / (Σ s)).
import { tf } from '../backend.js'

/** entmax-1.5 of the last axis of z (any rank ≥ 1), with its exact gradient. */
export function entmax15<T extends tf.Tensor>(z: T): T {
  const shape = z.shape
  const n = shape[shape.length - 1] as number
  const p = entmax15Rows(tf.reshape(z, [-1, n]) as tf.Tensor2D)
  return tf.reshape(p, shape) as T
}

const entmax15Rows = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [z, save] = args as [tf.Tensor2D, tf.GradSaveFunc]
  const p = tf.tidy(() => entmax15Forward(z))
  save([p])
  return {
    value: p,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      // grad_z = s ∗ (g − q),  q = Σ s g / Σ s, per row; s = sqrt(p) vanishes off the support.
      const s = tf.sqrt(saved[0] as tf.Tensor)
      const q = tf.div(tf.sum(tf.mul(dy, s), -1, true), tf.sum(s, -1, true))
      return [tf.mul(s, tf.sub(dy, q))]
    },
  }
}) as (z: tf.Tensor2D) => tf.Tensor2D

function entmax15Forward(z: tf.Tensor2D): tf.Tensor2D {
  const n = z.shape[1]
  // Shift by the max (p is shift-invariant; keeps the squares small), and halve: α − 1 = 1/2.
  const x = tf.div(tf.sub(z, tf.max(z, -1, true)), 2)
  // Sort each row descending; topk with k = N is tfjs's sort.
  const sorted = tf.topk(x, n, true).values
  // Candidate thresholds τ_k for every support size k = 1…N (see the header).
  const k = tf.range(1, n + 1, 1, 'float32')
  const mean = tf.div(tf.cumsum(sorted, 1), k)
  const meanSq = tf.div(tf.cumsum(tf.square(sorted), 1), k)
  const ss = tf.mul(k, tf.sub(meanSq, tf.square(mean)))
  const delta = tf.div(tf.sub(1, ss), k)
  const tau = tf.sub(mean, tf.sqrt(tf.relu(delta)))
  // Support size k* = #{k : τ_k ≤ x₍ₖ₎}; the threshold is τ_{k*} (picked with a one-hot mask).
  // (A mask k == k* rather than tf.oneHot: oneHot with a float32 dtype returns zeros on wasm.)
  const supportSize = tf.sum(tf.cast(tf.lessEqual(tau, sorted), 'float32'), -1, true)
  const pick = tf.cast(tf.equal(k, supportSize), 'float32')
  const tauStar = tf.sum(tf.mul(tau, pick), -1, true)
  // p = [x − τ*]₊²
  return tf.square(tf.relu(tf.sub(x, tauStar))) as tf.Tensor2D
}
