// Mixture of Decoders (Oldfield et al., NeurIPS 2025; docs/science/mxd.md). For one token:
//   z = φ(Eᵀx + b_E)                    (GLU: ∗ (E_gluᵀx + b_glu))   dense hidden, φ = exact GELU
//   a = TopK(ReLU(Gᵀx + b_G), K)         expert coefficients, ≤ K non-zeros
//   ŷ = (Cᵀa) ∗ (Dᵀz) + b_out            = Σ_n a_n W_nᵀ z + b_out with W_n = D·diag(c_n)
// The expert tensor is never built. Parameters keep the export names and shapes: E [d,H],
// b_E [H], G [d,N], b_G [N], C [N,O] (row n = c_n, unit norm), D [H,O], b_out [O].
import { tf } from '../backend.js'
import { gelu as geluOp } from '../ops.js'
import {
  codePositions,
  customParamOp,
  denseCodes,
  gatherRows,
  linearInit,
  topkRelu,
  topkReluGrad,
  unitRows,
  weightedRowSum,
  weightedRowSumGrad,
  type TopK,
} from './sparse.js'
import {
  SparseLayerBase,
  variablesFromTensors,
  variablesOf,
  type ForwardOptions,
  type LayerTensors,
  type SparseForward,
} from './sparse-layer.js'

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

/** TransformerLens-style name of the post-TopK coefficients a for layer L. */
export function mxdGateHookName(layer: number): string {
  return `blocks.${layer}.mxd.hook_gate`
}

const SQRT1_2 = Math.SQRT1_2
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI)

/** Exact GELU, x·Φ(x) = ½x(1 + erf(x/√2)), as torch.nn.functional.gelu's default. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, SQRT1_2)), 1)))
}

/** d/dx of exact GELU: Φ(x) + x·φ(x), φ the standard normal density. */
function geluGrad(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const cdf = tf.mul(tf.add(tf.erf(tf.mul(x, SQRT1_2)), 1), 0.5)
    const pdf = tf.mul(tf.exp(tf.mul(tf.square(x), -0.5)), INV_SQRT_2PI)
    return tf.add(cdf, tf.mul(x, pdf))
  })
}

/** Exact number of MxD parameters: E, b_E, (E_glu, b_glu,) G, b_G, C, D, b_out. */
export function mxdParameterCount(dIn: number, dOut: number, hidden: number, experts: number, glu = false): number {
  const hiddenLayer = (glu ? 2 : 1) * (dIn * hidden + hidden)
  return hiddenLayer + experts * (dIn + 1 + dOut) + hidden * dOut + dOut
}

/**
 * N for which MxD is parameter-matched to a TopK transcoder with S = latentsPerInput·d_in
 * latents, reproducing the official scripts' figures exactly (GPT-2 21,490; Pythia-410M
 * 28,658; Pythia-1.4B 57,330; Llama-3.2-3B 86,015 GLU with H = 8192 / 90,087 MLP with
 * H = ⌊2.67·3072⌋ = 8202). The two official formulas count different terms:
 *  - MLP (train_gpt2.py): only the weight matrices are matched, N = round((S·(d+O) − H·(d+O)) / (d+O+1));
 *    the transcoder's biases (S + O) cancel against a mis-typed "S + O" in the MxD count, so b_E
 *    (H) and b_out are left out, and each expert costs d + O + 1 (gate row, gate bias, c_n).
 *  - GLU (train_llama3.2_3b.py): every parameter is counted, transcoder S·(d+1+O) + O against
 *    MxD 2·H·(d+1) + O·(H+1) + N·(d+1+O), and N is rounded down.
 */
export function parameterMatchedExperts(dIn: number, dOut: number, hidden: number, glu: boolean, latentsPerInput = 32): number {
  const S = latentsPerInput * dIn
  const perExpert = dIn + 1 + dOut
  if (glu) {
    const transcoder = S * (dIn + 1 + dOut) + dOut
    const fixed = 2 * hidden * (dIn + 1) + dOut * (hidden + 1)
    return Math.floor((transcoder - fixed) / perExpert)
  }
  return Math.round((S * (dIn + dOut) - hidden * (dIn + dOut)) / perExpert)
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
    super(params, 'C')
    this.width = config.experts
    this.k = config.k
    this.glu = config.glu ?? false
    this.expertProduct = config.expertProduct ?? 'sparse'
  }

  /** Shapes of every parameter, by export name. */
  static shapes({ dIn, dOut, hidden, experts, glu }: MxDConfig): Record<string, number[]> {
    return {
      E: [dIn, hidden],
      b_E: [hidden],
      ...(glu ? { E_glu: [dIn, hidden], b_glu: [hidden] } : {}),
      G: [dIn, experts],
      b_G: [experts],
      C: [experts, dOut],
      D: [hidden, dOut],
      b_out: [dOut],
    }
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
    const h = geluOp(pre)
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
        const rows = sparse ? gatherRows(p.C as tf.Tensor2D, gate.indices) : undefined
        const Ca = rows ? weightedRowSum(gate.values, rows) : tf.matMul(codes, p.C as tf.Tensor2D)
        // ŷ = (Cᵀa) ∗ (Dᵀz) + b_out: each expert rescales the columns of D by its c_n.
        const value = tf.add(tf.mul(Ca, Dz), p.b_out!) as tf.Tensor2D
        const saved: Record<string, tf.Tensor> = { x, values: gate.values, indices: gate.indices, pre, h, z, Dz, Ca }
        if (u) saved.u = u
        if (rows) saved.rows = rows
        else saved.codes = codes
        return { value, saved }
      },
      (dy, s, p) => tf.tidy(() => this.backward(dy, s, p)),
    )
  }

  /** The backward pass of decode, step by step in reverse. */
  private backward(dy: tf.Tensor2D, s: Record<string, tf.Tensor>, p: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
    const x = s.x as tf.Tensor2D
    const gate = { values: s.values as tf.Tensor2D, indices: s.indices as tf.Tensor2D }
    // Explicit transposes + plain matMuls: on wasm a transposed matMul is 12–35× slower.
    const xT = tf.transpose(x)
    // ŷ = Ca ∗ Dz + b_out
    const db_out = tf.sum(dy, 0)
    const dCa = tf.mul(dy, s.Dz!) as tf.Tensor2D
    const dDz = tf.mul(dy, s.Ca!) as tf.Tensor2D
    // Dz = z·D
    const dD = tf.matMul(tf.transpose(s.z as tf.Tensor2D), dDz)
    const dz = tf.matMul(dDz, tf.transpose(p.D as tf.Tensor2D))
    // z = φ(pre) (∗ u)
    const grads: Record<string, tf.Tensor> = { D: dD, b_out: db_out }
    const dh = s.u ? tf.mul(dz, s.u) : dz
    const dPre = tf.mul(dh, geluGrad(s.pre!)) as tf.Tensor2D
    grads.E = tf.matMul(xT, dPre)
    grads.b_E = tf.sum(dPre, 0)
    if (s.u) {
      const dU = tf.mul(dz, s.h!) as tf.Tensor2D
      grads.E_glu = tf.matMul(xT, dU)
      grads.b_glu = tf.sum(dU, 0)
    }
    // Ca = Cᵀa: gradients for C and for the K selected coefficients.
    let dValues: tf.Tensor2D
    if (s.rows) {
      const r = weightedRowSumGrad(gate.values, gate.indices, s.rows as tf.Tensor3D, dCa, this.width)
      grads.C = r.dM
      dValues = r.dValues
    } else {
      grads.C = tf.matMul(tf.transpose(s.codes as tf.Tensor2D), dCa)
      const dA = tf.matMul(dCa, tf.transpose(p.C as tf.Tensor2D))
      dValues = tf.reshape(tf.gatherND(dA, codePositions(gate.indices)), gate.values.shape)
    }
    // a = TopK(ReLU(x·G + b_G)): gradient through the selected positions only.
    const { dW, db } = topkReluGrad(x, gate, dValues, this.width)
    grads.G = dW
    grads.b_G = db
    return grads
  }
}
