// TopK transcoder, the baseline MxD is compared with (docs/science/transcoders.md), and with `skip`
// the skip transcoder of Paulo et al. (arXiv 2501.18823). For one token:
//   a = TopK(ReLU(W_encᵀx + b_enc), K)     latents, ≤ K non-zeros
//   ŷ = W_decᵀa + b_dec (+ W_skip x)        unit-norm decoder rows; W_skip [d_out, d_in], no bias
// Names and shapes follow SAELens: W_enc [d_in, d_sae], b_enc, W_dec [d_sae, d_out], b_dec.
import { skipTranscoderKind } from '../../shared/layer-kinds/skip-transcoder.js'
import { transcoderKind } from '../../shared/layer-kinds/transcoder.js'
import { tf } from '../backend.js'
import { matMulT, sumRows } from '../ops.js'
import {
  customParamOp,
  denseCodes,
  linearInit,
  selectedRowSum,
  selectedRowSumGrad,
  topkRelu,
  topkReluGrad,
  unitRows,
  type TopK,
} from './sparse.js'
import {
  SparseLayerBase,
  variablesFromTensors,
  variablesOf,
  type ForwardOptions,
  type LayerKindImpl,
  type LayerSize,
  type LayerTensors,
  type SparseForward,
} from './sparse-layer.js'

export interface TranscoderConfig {
  dIn: number
  dOut: number
  /** d_sae; default 32·d_in, the width MxD is parameter-matched to. */
  width?: number
  k: number
  /** Adds the linear skip connection W_skip x (skip transcoder). */
  skip?: boolean
  seed?: number
}

function transcoderSize(c: TranscoderConfig): LayerSize {
  return { dIn: c.dIn, dOut: c.dOut, width: c.width ?? 32 * c.dIn, k: c.k, hidden: null, glu: false }
}

/** The engine halves of both transcoder kinds, registered in ./kinds.ts. */
export const transcoderLayerKind: LayerKindImpl = {
  descriptor: transcoderKind,
  create: (s, seed) => TranscoderLayer.create({ dIn: s.dIn, dOut: s.dOut, width: s.width, k: s.k, seed }),
  fromTensors: (s, tensors) => TranscoderLayer.fromTensors({ dIn: s.dIn, dOut: s.dOut, width: s.width, k: s.k }, tensors),
}
export const skipTranscoderLayerKind: LayerKindImpl = {
  descriptor: skipTranscoderKind,
  create: (s, seed) => TranscoderLayer.create({ dIn: s.dIn, dOut: s.dOut, width: s.width, k: s.k, skip: true, seed }),
  fromTensors: (s, tensors) => TranscoderLayer.fromTensors({ dIn: s.dIn, dOut: s.dOut, width: s.width, k: s.k, skip: true }, tensors),
}

export class TranscoderLayer extends SparseLayerBase {
  readonly kind: 'transcoder' | 'skip_transcoder'
  readonly width: number
  readonly k: number
  readonly skip: boolean

  private constructor(
    readonly config: TranscoderConfig,
    params: Record<string, tf.Variable>,
  ) {
    super(params, transcoderKind.file.unitNorm)
    this.skip = config.skip ?? false
    this.kind = this.skip ? 'skip_transcoder' : 'transcoder'
    this.width = config.width ?? 32 * config.dIn
    this.k = config.k
  }

  get size(): LayerSize {
    return transcoderSize(this.config)
  }

  /** Shapes of every parameter, by export name (the descriptor's file format). */
  static shapes(config: TranscoderConfig): Record<string, number[]> {
    return (config.skip ? skipTranscoderKind : transcoderKind).file.tensors(transcoderSize(config))
  }

  /**
   * Official init: W_enc ~ U(±1/√d_in), b_enc = 0; W_dec ~ U(±1/√d_sae) with rows scaled to
   * unit norm; b_dec = 0. Skip transcoder: W_skip = 0 and W_dec = 0 (rows get their unit norm
   * after the first step, when afterStep() renormalises them).
   */
  static create(config: TranscoderConfig): TranscoderLayer {
    const { dIn, dOut, seed } = config
    const width = config.width ?? 32 * dIn
    const s = (i: number): number | undefined => (seed === undefined ? undefined : seed + i)
    const tensors = tf.tidy(() => ({
      W_enc: linearInit([dIn, width], dIn, s(0)),
      b_enc: tf.zeros([width]),
      W_dec: config.skip ? tf.zeros([width, dOut]) : unitRows(linearInit([width, dOut], width, s(1)) as tf.Tensor2D),
      b_dec: tf.zeros([dOut]),
      ...(config.skip ? { W_skip: tf.zeros([dOut, dIn]) } : {}),
    }))
    return new TranscoderLayer(config, variablesOf(tensors))
  }

  static fromTensors(config: TranscoderConfig, tensors: LayerTensors): TranscoderLayer {
    return new TranscoderLayer(config, variablesFromTensors(tensors, TranscoderLayer.shapes(config)))
  }

  forward(x: tf.Tensor2D, options?: ForwardOptions): SparseForward {
    return tf.tidy(() => {
      const p = this.params as Record<string, tf.Tensor>
      // 1. Encode: a = TopK(ReLU(W_encᵀx + b_enc)).
      const latents = topkRelu(x, p.W_enc as tf.Tensor2D, p.b_enc as tf.Tensor1D, this.k)
      const codes = denseCodes(latents.values, latents.indices, this.width)
      if (options?.codeHook) {
        const a = options.codeHook(codes)
        return { y: tf.add(tf.matMul(a, p.W_dec as tf.Tensor2D), this.skipAndBias(x, p)) as tf.Tensor2D, codes: a }
      }
      // 2. Decode with the hand-written backward.
      return { y: this.decode(x, latents), codes, selected: { values: latents.values, indices: latents.indices } }
    })
  }

  /** b_dec (+ x·W_skipᵀ, with W_skip transposed explicitly: d×d, cheap, and a plain matMul). */
  private skipAndBias(x: tf.Tensor2D, p: Record<string, tf.Tensor>): tf.Tensor {
    return this.skip ? tf.add(tf.matMul(x, tf.transpose(p.W_skip as tf.Tensor2D)), p.b_dec!) : p.b_dec!
  }

  private decode(x: tf.Tensor2D, latents: TopK): tf.Tensor2D {
    return customParamOp(
      this.params as Record<string, tf.Tensor>,
      (p) => {
        // ŷ = Σ_k a_k W_dec[idx_k] + b_dec (+ W_skip x): only the K selected decoder rows are read.
        const { value: decoded, rows } = selectedRowSum(latents.values, latents.indices, p.W_dec as tf.Tensor2D)
        const value = tf.add(decoded, this.skipAndBias(x, p)) as tf.Tensor2D
        const saved: Record<string, tf.Tensor> = { x, values: latents.values, indices: latents.indices }
        if (rows) saved.rows = rows
        return { value, saved }
      },
      (dy, s, p) =>
        tf.tidy(() => {
          const x = s.x as tf.Tensor2D
          const latents = { values: s.values as tf.Tensor2D, indices: s.indices as tf.Tensor2D }
          const { dValues, dM } = selectedRowSumGrad(
            latents.values,
            latents.indices,
            p.W_dec as tf.Tensor2D,
            s.rows as tf.Tensor3D | undefined,
            dy,
          )
          const { dW, db } = topkReluGrad(x, latents, dValues, this.width)
          const grads: Record<string, tf.Tensor> = { W_enc: dW, b_enc: db, W_dec: dM, b_dec: sumRows(dy) }
          // W_skip x: dW_skip = dyᵀ·x ([O,B]·[B,d]).
          if (this.skip) grads.W_skip = matMulT(dy, x, true, false)
          return grads
        }),
    )
  }
}
