// Evaluation of a sparse layer against the dense MLP it replaces, on held-out text only
// (docs/science/metrics.md; metric definitions as SAELens and sparsify use them):
//   nmse               Σ‖ŷ − y*‖² / Σ‖y*‖²
//   fvu                Σ‖ŷ − y*‖² / Σ‖y* − ȳ‖²,   ȳ the mean target over every evaluated token
//   explained_variance 1 − E‖y* − ŷ‖² / (E‖y*‖² − ‖E y*‖²)   (SAELens; not the per-token ratio)
//   l0                 mean number of non-zero code entries per token
//   dead_fraction      units (experts / latents) that never fired on the evaluated tokens
//   ce_clean / ce_spliced / ce_zero   next-token cross-entropy of the model as it is, with the
//                      layer spliced into blocks[L], and with blocks[L]'s MLP output set to 0
//   loss_recovered     (CE_zero − CE_spliced) / (CE_zero − CE_clean), null when the denominator ≈ 0
// Every sum is accumulated in float64 across batches. Padding positions count nowhere; a leading
// BOS counts as context for the next-token loss but not in the reconstruction metrics (its
// activations are outliers that say nothing about the layer, as SAELens excludes special tokens).
import { tf } from '../engine/backend.js'
import { hookNames } from '../engine/hooks.js'
import type { SparseLayer } from '../engine/layers/sparse-layer.js'
import type { LanguageModel } from '../engine/models/model.js'
import { codesHookName, forwardSpliced, zeroMlp } from './splice.js'

/** |CE_zero − CE_clean| below this (nats) leaves loss recovered undefined. */
export const LOSS_RECOVERED_MIN_GAP = 1e-6

export interface EvalBatch {
  ids: number[][]
  /** 1 = real token, 0 = padding; default all ones. */
  attentionMask?: number[][]
}

export interface EvalMetrics {
  /** Positions scored by the reconstruction metrics (real tokens, leading BOS excluded). */
  tokens: number
  /** Next-token predictions scored by the cross-entropies. */
  predictions: number
  sequences: number
  nmse: number
  fvu: number
  explainedVariance: number
  l0: number
  deadFraction: number
  ceClean: number
  ceSpliced: number
  ceZero: number
  lossRecovered: number | null
  /** Why a metric is missing or should be read with care. */
  notes: string[]
}

export type CeVariant = 'clean' | 'spliced' | 'zero'

/**
 * Float64 running sums behind EvalMetrics, fed batch by batch with values read back from the
 * device. Separate from the model so that tests can check it against hand computations.
 */
export class EvalAccumulator {
  private tokens = 0
  private residual = 0
  private targetSquares = 0
  private readonly targetSum: Float64Array
  // Chan et al.'s parallel variance: per-dimension mean and sum of squared deviations.
  private readonly mean: Float64Array
  private readonly m2: Float64Array
  private codedTokens = 0
  private nonZeros = 0
  private readonly fired: Float64Array
  private readonly ce: Record<CeVariant, { sum: number; count: number }> = {
    clean: { sum: 0, count: 0 },
    spliced: { sum: 0, count: 0 },
    zero: { sum: 0, count: 0 },
  }
  sequences = 0

  constructor(
    readonly dOut: number,
    readonly width: number,
  ) {
    this.targetSum = new Float64Array(dOut)
    this.mean = new Float64Array(dOut)
    this.m2 = new Float64Array(dOut)
    this.fired = new Float64Array(width)
  }

  /**
   * Rows of targets y* and predictions ŷ, row-major [rows, dOut]; only rows with keep[r] ≠ 0 count.
   */
  addReconstruction(yHat: ArrayLike<number>, target: ArrayLike<number>, keep: ArrayLike<number>): void {
    const O = this.dOut
    const rows = keep.length
    if (yHat.length !== rows * O || target.length !== rows * O) {
      throw new Error(`addReconstruction: expected ${rows}×${O} values, got ${yHat.length} and ${target.length}`)
    }
    let n = 0
    const batchSum = new Float64Array(O)
    for (let r = 0; r < rows; r++) {
      if (!keep[r]) continue
      n++
      for (let o = 0; o < O; o++) {
        const t = target[r * O + o]!
        const d = t - yHat[r * O + o]!
        this.residual += d * d
        this.targetSquares += t * t
        batchSum[o]! += t
      }
    }
    if (n === 0) return
    // Merge the batch's mean and squared deviations into the running ones (numerically stable).
    const batchM2 = new Float64Array(O)
    for (let o = 0; o < O; o++) batchSum[o]! /= n // now the batch mean
    for (let r = 0; r < rows; r++) {
      if (!keep[r]) continue
      for (let o = 0; o < O; o++) batchM2[o]! += (target[r * O + o]! - batchSum[o]!) ** 2
    }
    const total = this.tokens + n
    for (let o = 0; o < O; o++) {
      const delta = batchSum[o]! - this.mean[o]!
      this.m2[o]! += batchM2[o]! + (delta * delta * this.tokens * n) / total
      this.mean[o]! += (delta * n) / total
      this.targetSum[o]! += batchSum[o]! * n
    }
    this.tokens = total
  }

  /**
   * How often each unit fired (non-zero code) over `tokens` kept positions: counts [width].
   */
  addFiring(counts: ArrayLike<number>, tokens: number): void {
    if (counts.length !== this.width) throw new Error(`addFiring: expected ${this.width} counts, got ${counts.length}`)
    for (let u = 0; u < counts.length; u++) {
      this.fired[u]! += counts[u]!
      this.nonZeros += counts[u]!
    }
    this.codedTokens += tokens
  }

  /** A batch's summed next-token negative log-likelihood over `count` predictions. */
  addCrossEntropy(variant: CeVariant, nllSum: number, count: number): void {
    this.ce[variant].sum += nllSum
    this.ce[variant].count += count
  }

  get scoredTokens(): number {
    return this.tokens
  }

  result(): EvalMetrics {
    const notes: string[] = []
    const n = this.tokens
    const totalVariance = this.m2.reduce((a, b) => a + b, 0)
    // SAELens: E‖y‖² − ‖E y‖², from the plain running sums.
    let meanNormSq = 0
    for (let o = 0; o < this.dOut; o++) meanNormSq += (this.targetSum[o]! / n) ** 2
    const variance = this.targetSquares / n - meanNormSq
    const ce = (v: CeVariant): number => this.ce[v].sum / this.ce[v].count
    const [ceClean, ceSpliced, ceZero] = [ce('clean'), ce('spliced'), ce('zero')]
    let lossRecovered: number | null = (ceZero - ceSpliced) / (ceZero - ceClean)
    if (!(Math.abs(ceZero - ceClean) >= LOSS_RECOVERED_MIN_GAP)) {
      lossRecovered = null
      notes.push(
        `loss recovered is undefined: zero-ablating the MLP changes the cross-entropy by ${Math.abs(ceZero - ceClean).toExponential(2)} nats ` +
          `(under ${LOSS_RECOVERED_MIN_GAP}), so there is no loss to recover; read CE_spliced − CE_clean instead.`,
      )
    }
    if (n === 0) notes.push('no token was evaluated: the reconstruction metrics are undefined.')
    let dead = 0
    for (const f of this.fired) if (f === 0) dead++
    return {
      tokens: n,
      predictions: this.ce.clean.count,
      sequences: this.sequences,
      nmse: this.residual / this.targetSquares,
      fvu: this.residual / totalVariance,
      explainedVariance: 1 - this.residual / n / variance,
      l0: this.nonZeros / this.codedTokens,
      deadFraction: this.width > 0 ? dead / this.width : 0,
      ceClean,
      ceSpliced,
      ceZero,
      lossRecovered,
      notes,
    }
  }
}

/**
 * Positions a next-token loss is scored at: t predicts ids[t + 1], counted when both are real
 * tokens. Returns the flat [batch·(pos−1)] 0/1 weights.
 */
export function predictionWeights(mask: number[][]): Float32Array {
  const B = mask.length
  const T = mask[0]?.length ?? 0
  const w = new Float32Array(B * Math.max(0, T - 1))
  for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) w[b * (T - 1) + t] = mask[b]![t]! && mask[b]![t + 1]! ? 1 : 0
  return w
}

/** Positions the reconstruction metrics count: real tokens, except a sequence's leading BOS. [batch·pos] 0/1. */
export function reconstructionWeights(ids: number[][], mask: number[][], bosId: number | null): Float32Array {
  const T = ids[0]?.length ?? 0
  const w = new Float32Array(ids.length * T)
  ids.forEach((row, b) => {
    let first = true
    for (let t = 0; t < T; t++) {
      if (!mask[b]![t]) continue
      w[b * T + t] = first && bosId !== null && row[t] === bosId ? 0 : 1
      first = false
    }
  })
  return w
}

/**
 * Summed next-token negative log-likelihood from logits [B, T, V]: Σ_t w_t (logsumexp(ℓ_t) − ℓ_t[ids_{t+1}])
 * over the weighted positions (predictionWeights). Returns the sum (float64) and the count.
 */
export function nextTokenNll(logits: tf.Tensor3D, ids: number[][], weights: Float32Array): { sum: number; count: number } {
  const [B, T, V] = logits.shape
  if (T < 2) return { sum: 0, count: 0 }
  const rows = B * (T - 1)
  const nll = tf.tidy(() => {
    const flat = tf.reshape(tf.slice(logits, [0, 0, 0], [B, T - 1, V]), [rows, V]) as tf.Tensor2D
    const targets: number[][] = []
    for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) targets.push([b * (T - 1) + t, ids[b]![t + 1]!])
    const picked = tf.gatherND(flat, tf.tensor2d(targets, [rows, 2], 'int32'))
    return tf.sub(tf.logSumExp(flat, 1), picked)
  })
  const values = nll.dataSync()
  nll.dispose()
  let sum = 0
  let count = 0
  for (let i = 0; i < rows; i++) {
    if (!weights[i]) continue
    sum += values[i]!
    count++
  }
  return { sum, count }
}

export interface EvaluateOptions {
  model: LanguageModel
  layer: SparseLayer
  /** The block whose MLP the layer replaces. */
  block: number
  /** Held-out batches (the convert-eval job, src/jobs/convert/eval.ts, builds them from a dataset). */
  batches: AsyncIterable<EvalBatch> | Iterable<EvalBatch>
  /** The tokenizer's BOS id: a sequence's leading BOS is left out of the reconstruction metrics. */
  bosId: number | null
  /** Called after each batch with the running totals. */
  onBatch?: (p: { sequences: number; positions: number; partial: EvalMetrics }) => void | Promise<void>
  cancelled?: () => boolean
}

/**
 * Runs the three forwards (clean, spliced, zero-ablated) per batch and returns the metrics. The
 * spliced and ablated forwards start at block L from the clean forward's residual stream, since
 * blocks before L are the same in all three.
 */
export async function evaluateLayer(opts: EvaluateOptions): Promise<EvalMetrics> {
  const { model, layer, block, bosId } = opts
  const acc = new EvalAccumulator(model.dModel, layer.width)
  const mlpOut = hookNames.mlpOut(block)
  const residPre = hookNames.residPre(block)
  const gate = codesHookName(layer.kind, block)
  let positions = 0
  for await (const batch of opts.batches) {
    if (opts.cancelled?.()) break
    const { ids } = batch
    const mask = batch.attentionMask ?? ids.map((row) => row.map(() => 1))
    const predW = predictionWeights(mask)
    const recW = reconstructionWeights(ids, mask, bosId)

    // 1. The model as it is: CE_clean, the target y*, and the residual stream entering block L.
    const clean = model.forward(ids, { attentionMask: mask, cacheNames: [mlpOut, residPre] })
    const startAtLayer = { layer: block, residual: clean.cache[residPre]! }
    try {
      let target: Float32Array
      try {
        const c = nextTokenNll(clean.logits!, ids, predW)
        acc.addCrossEntropy('clean', c.sum, c.count)
        target = clean.cache[mlpOut]!.dataSync() as Float32Array
      } finally {
        clean.logits?.dispose()
        clean.cache[mlpOut]?.dispose()
      }

      // 2. The layer spliced in: CE_spliced, its output ŷ (from the same x, since blocks before L
      // are untouched) and its code, for L0 and the dead units.
      const spliced = forwardSpliced(model, ids, { attentionMask: mask, cacheNames: [mlpOut, gate], splices: [{ block, layer }], startAtLayer })
      try {
        const s = nextTokenNll(spliced.logits!, ids, predW)
        acc.addCrossEntropy('spliced', s.sum, s.count)
        acc.addReconstruction(spliced.cache[mlpOut]!.dataSync(), target, recW)
        const codes = spliced.cache[gate]!
        const counts = tf.tidy(() => {
          const flat = tf.reshape(codes, [recW.length, layer.width])
          const keep = tf.tensor2d(recW, [1, recW.length])
          return tf.matMul(keep, tf.cast(tf.notEqual(flat, 0), 'float32'))
        })
        acc.addFiring(counts.dataSync(), recW.reduce((a, b) => a + b, 0))
        counts.dispose()
      } finally {
        disposeResult(spliced)
      }

      // 3. Zero ablation: CE_zero.
      const zero = model.forward(ids, { attentionMask: mask, mlpReplacements: { [block]: zeroMlp() }, startAtLayer })
      try {
        const z = nextTokenNll(zero.logits!, ids, predW)
        acc.addCrossEntropy('zero', z.sum, z.count)
      } finally {
        disposeResult(zero)
      }
    } finally {
      startAtLayer.residual.dispose()
    }

    acc.sequences += ids.length
    positions += ids.length * (ids[0]?.length ?? 0)
    await opts.onBatch?.({ sequences: acc.sequences, positions, partial: acc.result() })
  }
  return acc.result()
}

function disposeResult(r: { logits: tf.Tensor | null; cache: Record<string, tf.Tensor> }): void {
  r.logits?.dispose()
  for (const t of Object.values(r.cache)) t.dispose()
}
