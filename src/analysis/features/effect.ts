// The output effect of a transcoder latent (docs/features.md): its decoder row W_dec[n] read
// through the model's final norm and unembedding, as the direct effect of adding it to the last
// residual stream. The model's own ln_final and unembedding compute it (so every architecture's
// norm, LayerNorm or RMSNorm, is the one it really uses): W_dec[n] replaces the last block's
// resid_post, and the logits of a zero residual are subtracted, which removes ln_final's bias and
// the unembedding's; what is left is W_U · (γ ∗ normalise(W_dec[n])), whose ranking of tokens does
// not depend on the row's scale. An MxD expert has no single decoder row (W_n = D·diag(c_n) acts on
// the hidden z): its vector is its mean contribution over the tokens where it fired,
// a_n·(c_n ∗ Dᵀz) averaged (accumulated in the streaming pass: accumulator.ts ContributionSum),
// read through the same path.
import { tf } from '../../engine/backend.js'
import { hookNames } from '../../engine/hooks.js'
import type { SparseLayer } from '../../engine/layers/sparse-layer.js'
import type { LanguageModel } from '../../engine/models/model.js'
import type { ContributionSum } from './accumulator.js'

/** Tokens kept at each end of a unit's effect. */
export const EFFECT_TOKENS = 10

export const EFFECT_DESCRIPTION =
  "The latent's decoder row W_dec[n] through the final norm (its scale γ) and the unembedding: W_U·(γ ∗ norm(W_dec[n])), the logits it adds directly, without the later layers' response; the tokens it promotes most and suppresses most."

export const MXD_EFFECT_DESCRIPTION =
  "The expert's mean contribution to the MLP output over the indexed tokens where it fired, mean of a_n·(c_n ∗ Dᵀz) (its map W_n = D·diag(c_n) applied to the hidden z, times its code), through the final norm (its scale γ) and the unembedding: the logits it adds directly on average, without the later layers' response; the tokens it promotes most and suppresses most."

export const NO_EFFECT_DESCRIPTION = "Not computed: this index was made before MxD experts' effects were computed; index the layer again to get it."

export const NEVER_FIRED_DESCRIPTION = 'Not computed: the expert never fired on the indexed tokens, so it has no mean contribution.'

export interface UnitEffect {
  top: { id: number; value: number }[]
  bottom: { id: number; value: number }[]
}

/** Whether `layer` has one decoder row per unit (transcoders), i.e. an effect computed here. */
export function hasDecoderRows(layer: SparseLayer): boolean {
  return layer.params.W_dec !== undefined && layer.params.W_dec.shape[0] === layer.width
}

/** Per unit, the EFFECT_TOKENS tokens its decoder row promotes most and suppresses most. */
export async function decoderEffects(model: LanguageModel, layer: SparseLayer, opts: { cancelled?: () => boolean } = {}): Promise<UnitEffect[] | null> {
  const W = layer.params.W_dec!
  return directEffects(model, layer.width, (first, n) => tf.slice(W as tf.Tensor2D, [first, 0], [n, model.dModel]), opts)
}

/**
 * Per MxD expert, the EFFECT_TOKENS tokens its mean contribution promotes most and suppresses
 * most; null for an expert that never fired (`counts`: firings per expert).
 */
export async function expertEffects(
  model: LanguageModel,
  layer: SparseLayer,
  sums: ContributionSum,
  counts: ArrayLike<number>,
  opts: { cancelled?: () => boolean } = {},
): Promise<(UnitEffect | null)[] | null> {
  const C = layer.params.C as tf.Tensor2D
  const d = sums.dOut
  // c_n ∗ (Σ a_n·Dᵀz / count), a chunk of experts at a time (C is never copied out whole).
  const effects = await directEffects(model, layer.width, (first, n) => tf.mul(tf.slice(C, [first, 0], [n, d]), tf.tensor2d(sums.means(first, n, counts), [n, d])), opts)
  return effects && effects.map((e, u) => (counts[u]! > 0 ? e : null))
}

/** Per unit, the tokens its vector (`rowsOf(first, n)`: units first…first+n−1, [n, d_model]) promotes and suppresses most, read at the last residual stream. */
async function directEffects(model: LanguageModel, width: number, rowsOf: (first: number, n: number) => tf.Tensor2D, opts: { cancelled?: () => boolean }): Promise<UnitEffect[] | null> {
  const d = model.dModel
  const last = model.nLayers - 1
  const rows = Math.max(1, Math.min(model.dims.maxPositions, 256))
  // The logits of a zero residual: the biases the differences remove.
  const logitsOf = (residual: tf.Tensor3D): tf.Tensor3D => {
    const [, pos] = residual.shape
    const ids = [new Array<number>(pos).fill(0)]
    const { logits } = model.forward(ids, {
      startAtLayer: { layer: last, residual: tf.zeros([1, pos, d]) },
      hooks: { [hookNames.residPost(last)]: () => residual },
    })
    return logits!
  }
  const base = tf.tidy(() => tf.squeeze(logitsOf(tf.zeros([1, 1, d]) as tf.Tensor3D), [0, 1]))
  const out: UnitEffect[] = []
  try {
    for (let first = 0; first < width; first += rows) {
      if (opts.cancelled?.()) return null
      const n = Math.min(rows, width - first)
      const effect = tf.tidy(() => {
        const v = tf.reshape(rowsOf(first, n), [1, n, d]) as tf.Tensor3D
        return tf.sub(tf.squeeze(logitsOf(v), [0]), base) as tf.Tensor2D
      })
      const [topV, topI, botV, botI] = tf.tidy(() => {
        const k = Math.min(EFFECT_TOKENS, effect.shape[1])
        const hi = tf.topk(effect, k)
        const lo = tf.topk(tf.neg(effect), k)
        return [hi.values, hi.indices, tf.neg(lo.values), lo.indices]
      })
      effect.dispose()
      const [tv, ti, bv, bi] = await Promise.all([topV, topI, botV, botI].map((t) => t!.data()))
      for (const t of [topV, topI, botV, botI]) t!.dispose()
      const k = tv!.length / n
      for (let r = 0; r < n; r++) {
        const pick = (vals: ArrayLike<number>, idx: ArrayLike<number>): { id: number; value: number }[] =>
          Array.from({ length: k }, (_, j) => ({ id: idx[r * k + j]!, value: vals[r * k + j]! }))
        out.push({ top: pick(tv!, ti!), bottom: pick(bv!, bi!) })
      }
      await new Promise((r) => setImmediate(r))
    }
  } finally {
    base.dispose()
  }
  return out
}
