// Mixture of Decoders (Oldfield et al., NeurIPS 2025; docs/science/mxd.md). For one token:
//   z = φ(Eᵀx + b_E)                    (GLU: ∗ (E_gluᵀx + b_glu))   dense hidden, φ = exact GELU
//   a = TopK(ReLU(Gᵀx + b_G), K)         expert coefficients, ≤ K non-zeros
//   ŷ = (Cᵀa) ∗ (Dᵀz) + b_out            = Σ_n a_n W_nᵀ z + b_out with W_n = D·diag(c_n)
// The expert tensor is never built. Parameters keep the export names and shapes: E [d,H],
// b_E [H], G [d,N], b_G [N], C [N,O] (row n = c_n, unit norm), D [H,O], b_out [O].
import { matchedExperts, mxdKind, mxdParams } from '../../shared/layer-kinds/mxd.js'
import { tf } from '../backend.js'
import { gelu, geluBackward, matMulT, sumRows } from '../ops.js'
import {
  codePositions,
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

export { mxdGateHookName } from '../../shared/layer-kinds/mxd.js'

export interface MxDConfig {
  dIn: number
  dOut: number
  /** H: the dense hidden width (4·d for GPT-2/Pythia, ≈2.67·d for Llama). */
  hidden: number
  /** N: the number of experts. */
  experts: number
  /** K: active experts per token. */
  k: number
  /** GLU hidden layer z = φ(Eᵀx + b_E) ∗ (E_gluᵀx + b_glu), as in Llama's MLP. */
  glu?: boolean
  /**
   * How Cᵀa is computed. 'sparse' (default): gather the K selected rows of C per token, K·O
   * multiply-adds; 'dense': the official code's [B,N]×[N,O] product on the dense code (about
   * N/K times the work; kept for the benchmark that chose 'sparse', bench/mxd-train/layer-step.ts).
   */
  expertProduct?: 'sparse' | 'dense'
  seed?: number
}

/** Exact number of MxD parameters (the formula lives with the kind's descriptor, src/shared/layer-kinds/mxd.ts). */
export function mxdParameterCount(dIn: number, dOut: number, hidden: number, experts: number, glu = false): number {
  return mxdParams(dIn, dOut, hidden, experts, glu)
}

/** N parameter-matched to a latentsPerInput·d_in TopK transcoder (src/shared/layer-kinds/mxd.ts explains the official formulas). */
export const parameterMatchedExperts = matchedExperts

function mxdSize(c: MxDConfig): LayerSize {
  return { dIn: c.dIn, dOut: c.dOut, width: c.experts, k: c.k, hidden: c.hidden, glu: c.glu ?? false }
}

function mxdConfigOf(size: LayerSize, seed?: number): MxDConfig {
  if (size.hidden === null) throw new Error('an MxD layer needs its hidden width H')
  return { dIn: size.dIn, dOut: size.dOut, hidden: size.hidden, experts: size.width, k: size.k, glu: size.glu, seed }
}

/** MxD's engine half, registered in ./kinds.ts. */
export const mxdLayerKind: LayerKindImpl = {
  descriptor: mxdKind,
  create: (size, seed) => MxDLayer.create(mxdConfigOf(size, seed)),
  fromTensors: (size, tensors) => MxDLayer.fromTensors(mxdConfigOf(size), tensors),
}

export class MxDLayer extends SparseLayerBase {
  readonly kind = 'mxd' as const
  readonly width: number
  readonly k: number
  readonly glu: boolean
  readonly expertProduct: 'sparse' | 'dense'

  private constructor(
    readonly config: MxDConfig,
    params: Record<string, tf.Variable>,
  ) {
    super(params, mxdKind.file.unitNorm)
    this.width = config.experts
    this.k = config.k
    this.glu = config.glu ?? false
    this.expertProduct = config.expertProduct ?? 'sparse'
  }

  get size(): LayerSize {
    return mxdSize(this.config)
  }

  /** Shapes of every parameter, by export name (the descriptor's file format). */
  static shapes(config: MxDConfig): Record<string, number[]> {
    return mxdKind.file.tensors(mxdSize(config))
  }

  /**
   * The official initialisation: E, G (and E_glu, b_glu) nn.Linear's default U(±1/√d_in);
   * b_E = b_G = 0; D = 0 (so ŷ = b_out at step 0, as skip transcoders); C ~ U(−1, 1) with each
   * row then scaled to unit norm; b_out = 0. The original MLP's weights are not copied.
   */
  static create(config: MxDConfig): MxDLayer {
    const { dIn, dOut, hidden, experts, seed } = config
    const s = (i: number): number | undefined => (seed === undefined ? undefined : seed + i)
    const tensors = tf.tidy(() => ({
      E: linearInit([dIn, hidden], dIn, s(0)),
      b_E: tf.zeros([hidden]),
      ...(config.glu ? { E_glu: linearInit([dIn, hidden], dIn, s(1)), b_glu: linearInit([hidden], dIn, s(2)) } : {}),
      G: linearInit([dIn, experts], dIn, s(3)),
      b_G: tf.zeros([experts]),
      C: unitRows(tf.randomUniform([experts, dOut], -1, 1, 'float32', s(4)) as tf.Tensor2D),
      D: tf.zeros([hidden, dOut]),
      b_out: tf.zeros([dOut]),
    }))
    return new MxDLayer(config, variablesOf(tensors))
  }

  static fromTensors(config: MxDConfig, tensors: LayerTensors): MxDLayer {
    return new MxDLayer(config, variablesFromTensors(tensors, MxDLayer.shapes(config)))
  }

  forward(x: tf.Tensor2D, options?: ForwardOptions): SparseForward {
    return tf.tidy(() => {
      const p = this.params as Record<string, tf.Tensor>
      // 1. Route: a = TopK(ReLU(Gᵀx + b_G)); only the K winners' values and columns are kept.
      const gate = topkRelu(x, p.G as tf.Tensor2D, p.b_G as tf.Tensor1D, this.k)
      const codes = denseCodes(gate.values, gate.indices, this.width)
      if (options?.codeHook) return this.hookedForward(x, options.codeHook(codes))
      // 2. Decode with the hand-written backward (every parameter, through TopK's selection).
      return { y: this.decode(x, gate, codes), codes, selected: { values: gate.values, indices: gate.indices } }
    })
  }

  /** Dᵀz [B, O], the shared decoding that expert n rescales by c_n (its output a_n·(c_n ∗ Dᵀz)); for analysis. */
  sharedDecoding(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.matMul(this.hiddenLayer(x, this.params as Record<string, tf.Tensor>).z, this.params.D as tf.Tensor2D))
  }

  /** ŷ with a user-modified dense code a' (steering / ablation): (Cᵀa') ∗ (Dᵀz) + b_out. */
  private hookedForward(x: tf.Tensor2D, a: tf.Tensor2D): SparseForward {
    const p = this.params as Record<string, tf.Tensor>
    const z = this.hiddenLayer(x, p).z
    const y = tf.add(tf.mul(tf.matMul(a, p.C as tf.Tensor2D), tf.matMul(z, p.D as tf.Tensor2D)), p.b_out!) as tf.Tensor2D
    return { y, codes: a }
  }

  /** z = φ(x·E + b_E) (∗ (x·E_glu + b_glu)), keeping the pre-activations for the backward pass. */
  private hiddenLayer(x: tf.Tensor2D, p: Record<string, tf.Tensor>): { pre: tf.Tensor2D; h: tf.Tensor2D; u?: tf.Tensor2D; z: tf.Tensor2D } {
    const pre = tf.add(tf.matMul(x, p.E as tf.Tensor2D), p.b_E!) as tf.Tensor2D
    const h = gelu(pre)
    if (!this.glu) return { pre, h, z: h }
    const u = tf.add(tf.matMul(x, p.E_glu as tf.Tensor2D), p.b_glu!) as tf.Tensor2D
    return { pre, h, u, z: tf.mul(h, u) }
  }

  private decode(x: tf.Tensor2D, gate: TopK, codes: tf.Tensor2D): tf.Tensor2D {
    const sparse = this.expertProduct === 'sparse'
    return customParamOp(
      this.params as Record<string, tf.Tensor>,
      (p) => {
        const { pre, h, u, z } = this.hiddenLayer(x, p)
        // Dᵀz: the dense MLP's second matrix, shared by all experts.
        const Dz = tf.matMul(z, p.D as tf.Tensor2D)
        // Cᵀa: only K rows of C per token (sparse) or the dense product (official code).
        const selected = sparse ? selectedRowSum(gate.values, gate.indices, p.C as tf.Tensor2D) : undefined
        const Ca = selected ? selected.value : tf.matMul(codes, p.C as tf.Tensor2D)
        const rows = selected?.rows
        // ŷ = (Cᵀa) ∗ (Dᵀz) + b_out: each expert rescales the columns of D by its c_n.
        const value = tf.add(tf.mul(Ca, Dz), p.b_out!) as tf.Tensor2D
        const saved: Record<string, tf.Tensor> = { x, values: gate.values, indices: gate.indices, pre, h, z, Dz, Ca }
        if (u) saved.u = u
        if (rows) saved.rows = rows
        if (!sparse) saved.codes = codes
        return { value, saved }
      },
      (dy, s, p) => tf.tidy(() => this.backward(dy, s, p)),
    )
  }

  /** The backward pass of decode, step by step in reverse. */
  private backward(dy: tf.Tensor2D, s: Record<string, tf.Tensor>, p: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
    const x = s.x as tf.Tensor2D
    const gate = { values: s.values as tf.Tensor2D, indices: s.indices as tf.Tensor2D }
    // Products with a transposed operand through matMulT: GEMM flags on the native kernels,
    // explicit transposes on tfjs-wasm's (where a transposed matMul is 12–35× slower).
    // ŷ = Ca ∗ Dz + b_out
    const db_out = sumRows(dy)
    const dCa = tf.mul(dy, s.Dz!) as tf.Tensor2D
    const dDz = tf.mul(dy, s.Ca!) as tf.Tensor2D
    // Dz = z·D
    const dD = matMulT(s.z!, dDz, true, false)
    const dz = matMulT(dDz, p.D!, false, true)
    // z = φ(pre) (∗ u)
    const grads: Record<string, tf.Tensor> = { D: dD, b_out: db_out }
    const dh = s.u ? tf.mul(dz, s.u) : dz
    const dPre = geluBackward(dh, s.pre!) as tf.Tensor2D
    grads.E = matMulT(x, dPre, true, false)
    grads.b_E = sumRows(dPre)
    if (s.u) {
      const dU = tf.mul(dz, s.h!) as tf.Tensor2D
      grads.E_glu = matMulT(x, dU, true, false)
      grads.b_glu = sumRows(dU)
    }
    // Ca = Cᵀa: gradients for C and for the K selected coefficients.
    let dValues: tf.Tensor2D
    if (this.expertProduct === 'sparse') {
      const r = selectedRowSumGrad(gate.values, gate.indices, p.C as tf.Tensor2D, s.rows as tf.Tensor3D | undefined, dCa)
      grads.C = r.dM
      dValues = r.dValues
    } else {
      grads.C = matMulT(s.codes!, dCa, true, false)
      const dA = matMulT(dCa, p.C!, false, true) as tf.Tensor2D
      dValues = tf.reshape(tf.gatherND(dA, codePositions(gate.indices)), gate.values.shape)
    }
    // a = TopK(ReLU(x·G + b_G)): gradient through the selected positions only.
    const { dW, db } = topkReluGrad(x, gate, dValues, this.width)
    grads.G = dW
    grads.b_G = db
    return grads
  }
}
