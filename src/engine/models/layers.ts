// The pieces the three decoder architectures share: norms, activations, rotary embeddings, and
// causal self-attention with a padding mask and a KV cache. Everything is tfjs-core, so it runs on
// every backend. Weight matrices are always [in, out] here (the loaders transpose torch's
// nn.Linear [out, in] once at load), because on the wasm backend a matMul with transposeB is an
// order of magnitude slower than a plain one.
import { tf } from '../backend.js'

// ------------------------------------------------------------------------------------ linear

/** y = x W + b with W [in, out]. */
export interface Linear {
  w: tf.Tensor2D
  b: tf.Tensor1D | null
}

/**
 * Applies a Linear to the last axis of x (any rank ≥ 2): matMul wants 2-D, so fold the rest. The
 * fused matMul adds the bias as it writes the product (one kernel, no second pass over y). On
 * wasm the bias must have been *created* 1-D, not reshaped to 1-D (see fusedQkv in gpt_neox.ts).
 */
export function linear(x: tf.Tensor, layer: Linear): tf.Tensor {
  const inDim = x.shape[x.shape.length - 1] as number
  const outDim = layer.w.shape[1]
  const y = tf.fused.matMul({ a: tf.reshape(x, [-1, inDim]) as tf.Tensor2D, b: layer.w, bias: layer.b ?? undefined })
  return tf.reshape(y, [...x.shape.slice(0, -1), outDim])
}

// ------------------------------------------------------------------------------------- norms

export type Norm = (x: tf.Tensor) => tf.Tensor

/** LayerNorm over the last axis: (x − mean) / sqrt(var + eps) · w + b, biased variance as torch. */
export function layerNorm(w: tf.Tensor1D, b: tf.Tensor1D, eps: number): Norm {
  return (x) => {
    const centred = tf.sub(x, tf.mean(x, -1, true))
    const variance = tf.mean(tf.square(centred), -1, true)
    return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), w), b)
  }
}

/** RMSNorm (Llama): x / sqrt(mean(x²) + eps) · w. No centring, no bias. */
export function rmsNorm(w: tf.Tensor1D, eps: number): Norm {
  return (x) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w)
}

// ------------------------------------------------------------------------------- activations

// 0.5·(1 + tanh(u)) = sigmoid(2u): the same function with one cheap kernel instead of pow and
// tanh, which are ~8× slower on the wasm backend.
const GELU_C1 = 2 * Math.sqrt(2 / Math.PI)
const GELU_C3 = GELU_C1 * 0.044715

/**
 * GPT-2's "gelu_new", the tanh approximation its weights were trained with:
 * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as x·sigmoid(x·(c1 + c3·x²)).
 */
export function geluNew(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, tf.add(tf.mul(tf.square(x), GELU_C3), GELU_C1))))
}

/** Exact GELU, x · Φ(x) with the error function (GPT-NeoX's "gelu"). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1))
}

/** SiLU / swish, x · sigmoid(x): the gate activation of Llama's SwiGLU MLP. */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x))
}

// ---------------------------------------------------------------------------------- positions

/**
 * Position ids from an attention mask: cumsum(mask) − 1, clamped at 0. A left-padded row then
 * numbers its real tokens 0, 1, 2… exactly as the unpadded sequence would, so padding never
 * changes a real token's activations. (Hugging Face's generate() does the same for its models;
 * a plain HF forward without position_ids would count pad tokens instead.)
 */
export function positionIds(mask: readonly (readonly number[])[]): number[][] {
  return mask.map((row) => {
    let seen = 0
    return row.map((m) => {
      seen += m
      return Math.max(seen - 1, 0)
    })
  })
}

// ------------------------------------------------------------------------------------ rotary

/** Rotary inverse frequencies base^(−2i/dims), i < dims/2, computed in float32 as torch does. */
export function ropeInverseFrequencies(base: number, dims: number): Float32Array {
  const out = new Float32Array(dims / 2)
  for (let i = 0; i < out.length; i++) out[i] = 1 / Math.pow(base, Math.fround((2 * i) / dims))
  return out
}

export interface Llama3RopeScaling {
  factor: number
  lowFreqFactor: number
  highFreqFactor: number
  originalMaxPositions: number
}

/**
 * Llama 3.1's long-context rescaling (HF _compute_llama3_parameters): wavelengths shorter than
 * original/high_freq_factor keep their frequency, those longer than original/low_freq_factor are
 * slowed by `factor`, and the band between is interpolated smoothly.
 */
export function llama3InverseFrequencies(invFreq: Float32Array, s: Llama3RopeScaling): Float32Array {
  const lowFreqWavelen = s.originalMaxPositions / s.lowFreqFactor
  const highFreqWavelen = s.originalMaxPositions / s.highFreqFactor
  return invFreq.map((f) => {
    const wavelen = (2 * Math.PI) / f
    if (wavelen < highFreqWavelen) return f
    if (wavelen > lowFreqWavelen) return f / s.factor
    const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor)
    return (1 - smooth) * (f / s.factor) + smooth * f
  })
}

/** cos/sin of position × frequency, [batch, 1, pos, rotaryDims], duplicated as cat(freqs, freqs). */
export interface RotaryTables {
  cos: tf.Tensor4D
  sin: tf.Tensor4D
}

export function rotaryTables(invFreq: Float32Array, positions: number[][]): RotaryTables {
  const half = invFreq.length
  const dims = 2 * half
  const batch = positions.length
  const time = positions[0]?.length ?? 0
  const cos = new Float32Array(batch * time * dims)
  const sin = new Float32Array(batch * time * dims)
  positions.forEach((row, b) =>
    row.forEach((pos, t) => {
      const base = (b * time + t) * dims
      invFreq.forEach((f, i) => {
        const angle = Math.fround(pos * f)
        cos[base + i] = cos[base + half + i] = Math.cos(angle)
        sin[base + i] = sin[base + half + i] = Math.sin(angle)
      })
    }),
  )
  const shape: [number, number, number, number] = [batch, 1, time, dims]
  return { cos: tf.tensor4d(cos, shape), sin: tf.tensor4d(sin, shape) }
}

/**
 * Rotates the first rotaryDims channels of each head (the rest pass through: GPT-NeoX's
 * rotary_pct < 1), with HF's rotate_half convention: pairs are (i, i + dims/2), not (2i, 2i+1).
 */
export function applyRotary(x: tf.Tensor4D, tables: RotaryTables): tf.Tensor4D {
  const dims = tables.cos.shape[3]
  const headDim = x.shape[3]
  const rot = dims === headDim ? x : tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, dims])
  const [x1, x2] = tf.split(rot, 2, 3) as [tf.Tensor4D, tf.Tensor4D]
  const rotated = tf.add(tf.mul(rot, tables.cos), tf.mul(tf.concat([tf.neg(x2), x1], 3), tables.sin)) as tf.Tensor4D
  return dims === headDim ? rotated : tf.concat([rotated, tf.slice(x, [0, 0, 0, dims])], 3)
}

// ---------------------------------------------------------------------------------- KV cache

interface LayerKV {
  /** Keys stored transposed, [batch, kvHeads, headDim, time], ready for q · kᵀ. */
  keysT: tf.Tensor4D
  values: tf.Tensor4D
}

/**
 * Keys and values of the positions already processed, per layer, plus their attention mask, so a
 * forward over only the new tokens gives the same result as a forward over the whole sequence.
 * Owned by the caller: dispose() it when generation ends.
 */
export class KVCache {
  private readonly layers: (LayerKV | undefined)[] = []
  private pastMask: number[][] = []

  /** Number of cached positions. */
  get length(): number {
    return this.pastMask[0]?.length ?? 0
  }

  /** Attention mask of the cached positions, one row per sequence. */
  get mask(): readonly (readonly number[])[] {
    return this.pastMask
  }

  /** Appends one layer's new keys/values; returns the full ones. Survives the caller's tf.tidy. */
  extend(layer: number, keysT: tf.Tensor4D, values: tf.Tensor4D): LayerKV {
    const old = this.layers[layer]
    const next = old ? { keysT: tf.concat([old.keysT, keysT], 3), values: tf.concat([old.values, values], 2) } : { keysT, values }
    tf.keep(next.keysT)
    tf.keep(next.values)
    if (old) tf.dispose([old.keysT, old.values])
    this.layers[layer] = next
    return next
  }

  /** Records the mask of the tokens a forward just appended (called once per forward). */
  appendMask(mask: readonly (readonly number[])[]): void {
    this.pastMask = mask.map((row, b) => [...(this.pastMask[b] ?? []), ...row])
  }

  dispose(): void {
    for (const kv of this.layers) if (kv) tf.dispose([kv.keysT, kv.values])
    this.layers.length = 0
    this.pastMask = []
  }
}

// --------------------------------------------------------------------------------- attention

export interface AttentionWeights {
  /** Fused projection to [q of every head | k of every kv head | v of every kv head]. */
  qkv: Linear
  out: Linear
}

export interface AttentionShape {
  nHeads: number
  /** < nHeads for grouped-query attention (each kv head serves nHeads/nKvHeads query heads). */
  nKvHeads: number
  headDim: number
}

/** What every layer's attention shares within one forward. */
export interface AttentionContext {
  /** [batch, 1, newPos, allPos]: true where a query may look. */
  visible: tf.Tensor4D
  rotary: RotaryTables | null
  kvCache: KVCache | null
}

const MASKED = -1e9

/**
 * Which keys each of `newLength` queries (after the cached ones) may see: key j when j is not in
 * its future and mask[j] = 1, and always itself, so a pad token's row is never all-masked (its
 * softmax stays finite) while real tokens never see pads.
 */
export function attentionVisibility(fullMask: readonly (readonly number[])[], newLength: number): tf.Tensor4D {
  const batch = fullMask.length
  const total = fullMask[0]?.length ?? 0
  const past = total - newLength
  const visible = new Uint8Array(batch * newLength * total)
  fullMask.forEach((row, b) => {
    for (let i = 0; i < newLength; i++) {
      const q = past + i
      for (let j = 0; j < total; j++) {
        if (j === q || (j < q && row[j] === 1)) visible[(b * newLength + i) * total + j] = 1
      }
    }
  })
  return tf.tensor4d(visible, [batch, 1, newLength, total], 'bool')
}

/** Splits [batch, pos, heads·headDim] into [batch, heads, pos, headDim]. */
function splitHeads(x: tf.Tensor, heads: number, headDim: number): tf.Tensor4D {
  const [batch, time] = x.shape as [number, number, number]
  return tf.transpose(tf.reshape(x, [batch, time, heads, headDim]), [0, 2, 1, 3])
}

/**
 * Causal multi-head (or grouped-query) self-attention. `onPattern` sees — and may replace — the
 * softmax probabilities [batch, head, q, k]. Returns [batch, pos, d_model] after the output
 * projection.
 */
export function attention(
  x: tf.Tensor,
  w: AttentionWeights,
  shape: AttentionShape,
  ctx: AttentionContext,
  layer: number,
  onPattern: (pattern: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  const { nHeads, nKvHeads, headDim } = shape
  const [batch, time] = x.shape as [number, number, number]
  // (Split, then transpose each: a single 5-D transpose of [batch, pos, 3, heads, headDim] is ~8×
  // slower on wasm, whose fast transposes stop at rank 4.)
  const [qFlat, kFlat, vFlat] = tf.split(linear(x, w.qkv), [nHeads * headDim, nKvHeads * headDim, nKvHeads * headDim], 2)
  let q = splitHeads(qFlat as tf.Tensor, nHeads, headDim)
  let k = splitHeads(kFlat as tf.Tensor, nKvHeads, headDim)
  const vNew = splitHeads(vFlat as tf.Tensor, nKvHeads, headDim)
  if (ctx.rotary) {
    q = applyRotary(q, ctx.rotary)
    k = applyRotary(k, ctx.rotary)
  }
  // Scale q rather than the scores: same maths, fewer multiplies.
  q = tf.mul(q, 1 / Math.sqrt(headDim))
  const kNewT = tf.transpose(k, [0, 1, 3, 2])
  const { keysT, values } = ctx.kvCache ? ctx.kvCache.extend(layer, kNewT, vNew) : { keysT: kNewT, values: vNew }
  const total = keysT.shape[3]

  // Grouped-query attention without copying keys: the query heads sharing kv head j are
  // consecutive (HF repeat_kv), so [batch, nHeads, q, d] regroups for free as
  // [batch, nKvHeads, group·q, d] and one batched matMul serves the whole group.
  const group = nHeads / nKvHeads
  const scores = tf.matMul(tf.reshape(q, [batch, nKvHeads, group * time, headDim]), keysT)
  // Masking selects instead of adding a large negative bias: NaN + (−1e9) is still NaN, so a
  // non-finite key at a later position would otherwise poison every earlier query's softmax.
  const masked = tf.where(ctx.visible, tf.reshape(scores, [batch, nHeads, time, total]), MASKED)
  const pattern = onPattern(tf.softmax(masked))
  const z = attendValues(tf.reshape(pattern, [batch, nKvHeads, group * time, total]) as tf.Tensor4D, values)
  const heads = tf.transpose(tf.reshape(z, [batch, nHeads, time, headDim]), [0, 2, 1, 3])
  return linear(tf.reshape(heads, [batch, time, nHeads * headDim]), w.out)
}

/**
 * pattern · values where a key a query cannot see contributes nothing even if its value is NaN or
 * ±Infinity (a plain matMul gives 0 · NaN = NaN, leaking a later position into earlier ones). A
 * non-finite value a query does see still makes that query NaN, as it would in the model itself.
 */
function attendValues(pattern: tf.Tensor4D, values: tf.Tensor4D): tf.Tensor4D {
  const finite = tf.isFinite(values)
  const z = tf.matMul(pattern, tf.where(finite, values, 0))
  // [batch, kvHeads, key, 1]: how many non-finite channels each key's value has.
  const badKeys = tf.sum(tf.cast(tf.logicalNot(finite), 'float32'), 3, true)
  const reached = tf.greater(tf.matMul(pattern, badKeys), 0)
  return tf.where(reached, NaN, z) as tf.Tensor4D
}
