// Multilinear mixture of experts (μMoE; Oldfield et al., NeurIPS 2024, arXiv 2402.12550).
// N experts W_n ∈ R^{(I+1)×O} form a 3-way weight tensor 𝓦 ∈ R^{N×(I+1)×O} that is never built:
// it is kept factorized and the mixture y = Σ_n a_n W_nᵀ z̃ = 𝓦 ×₁ a ×₂ z̃ is contracted factor by
// factor.
//
//   a  = entmax15(Norm(Gᵀx))          soft, dense gate (no TopK); Norm has no affine; G = 0 at init
//   z̃  = [z; 1]                       the bias is folded in as an extra input row (I+1)
//   CP:  y = U3 ((U1ᵀa) ∗ (U2ᵀz̃))     W[n,i,o] = Σ_r U1[n,r] U2[i,r] U3[o,r]
//   TR:  A = G1 ×₂ a (r1×r2), B = G2 ×₂ z̃ (r2×r3), y_o = Σ_ijk A[i,j] B[j,k] G3[k,o,i]
//                                     W[n,i,o] = trace(G1[:,n,:] G2[:,i,:] G3[:,o,:])
//
// Storage layouts are chosen so every product is a plain row-major matMul (on wasm a matMul with
// transposeA/B is ~10× slower), i.e. factors are stored as permutations of the paper's:
//   CP: U1 [N, R], U2 [I+1, R] (as the paper), U3t [R, O] (= U3ᵀ)
//   TR: G1 [N, r1, r2], G2 [I+1, r2, r3], G3 [r1, r3, O]  (paper: r1×N×r2, r2×(I+1)×r3, r3×O×r1)
// Inputs are rows: x [..., I] is folded to [rows, I] and the output unfolded back.
import { tf } from '../backend.js'
import { gelu, geluNew, matmul as mm, standardize } from '../ops.js'
import { entmax15 } from './entmax.js'

// ------------------------------------------------------------------------------------ helpers

/** z̃ = [z; 1]: appends a column of ones so the last input row of each expert acts as its bias. */
function foldBias(z: tf.Tensor2D): tf.Tensor2D {
  return tf.concat([z, tf.ones([z.shape[0], 1])], 1)
}

/** Seeded initialisers (seed undefined = nondeterministic), returning trainable variables. */
function uniformVar(shape: number[], fanIn: number, seed?: number): tf.Variable {
  // U(±sqrt(1/fan_in)), torch's nn.Linear-style bound, as the official code.
  const bound = Math.sqrt(1 / fanIn)
  return tf.variable(tf.tidy(() => tf.randomUniform(shape, -bound, bound, 'float32', seed)))
}

function normalVar(shape: number[], mean: number, std: number, seed?: number): tf.Variable {
  return tf.variable(tf.tidy(() => tf.randomNormal(shape, mean, std, 'float32', seed)))
}

const nextSeed = (seed: number | undefined, k: number): number | undefined => (seed === undefined ? undefined : seed + k)

// ---------------------------------------------------------------------------------------- gate

export type GateNorm = 'layernorm' | 'batchnorm'

export interface GateOptions {
  inputDim: number
  nExperts: number
  /** LayerNorm over the experts (GPT-2) or BatchNorm over rows (MLP-Mixer); neither has affine. */
  norm: GateNorm
  eps?: number
  /** BatchNorm running-statistics momentum (torch convention: new = (1−m)·old + m·batch). */
  momentum?: number
}

/** a = entmax15(LayerNorm_noaffine(x G)) for x [rows, I]: the GPT-2 μMoE gate. */
export function layerNormGate(x: tf.Tensor2D, G: tf.Tensor2D, eps: number): tf.Tensor2D {
  return entmax15(standardize(mm(x, G), eps).xhat as tf.Tensor2D)
}

/** A BatchNorm's running statistics per expert (the unbiased variance, as torch's BatchNorm1d). */
export interface RunningStats {
  mean: tf.Variable
  variance: tf.Variable
}

/**
 * a = entmax15(BatchNorm_noaffine(x G)) for x [rows, I]: the MLP-Mixer μMoE gate. Training: each
 * expert's logit is normalised by its mean and (biased) variance over the rows (batch × tokens), and
 * the running statistics are updated in place (torch convention: new = (1−m)·old + m·batch, the
 * variance unbiased by n/(n−1)); eval: the running statistics are used and left alone. A free
 * function so a functional model (classifiers/mixer.ts) and MuMoEGate share it.
 */
export function batchNormGate(
  x: tf.Tensor2D,
  G: tf.Tensor2D,
  running: RunningStats,
  o: { training: boolean; eps: number; momentum: number },
): tf.Tensor2D {
  const h = mm(x, G)
  if (!o.training) return entmax15(tf.mul(tf.sub(h, running.mean), tf.rsqrt(tf.add(running.variance, o.eps))))
  const mean = tf.mean(h, 0)
  const centred = tf.sub(h, mean)
  const variance = tf.mean(tf.square(centred), 0)
  const rows = h.shape[0]
  const unbiased = rows > 1 ? tf.mul(variance, rows / (rows - 1)) : variance
  // assign() carries no gradient: the statistics are state, as in torch (updated outside autograd).
  running.mean.assign(tf.add(tf.mul(running.mean, 1 - o.momentum), tf.mul(mean, o.momentum)))
  running.variance.assign(tf.add(tf.mul(running.variance, 1 - o.momentum), tf.mul(unbiased, o.momentum)))
  return entmax15(tf.mul(centred, tf.rsqrt(tf.add(variance, o.eps))))
}

/** a = entmax15(Norm(Gᵀx)). One gate may drive several μMoE layers (the GPT-2 MLP block). */
export class MuMoEGate {
  readonly inputDim: number
  readonly nExperts: number
  readonly norm: GateNorm
  readonly eps: number
  readonly momentum: number
  /** G [I, N], zero at init, so every token starts with the uniform gate a = 1/N. */
  readonly G: tf.Variable
  /** BatchNorm only: running mean and (unbiased) variance used in eval mode. */
  readonly runningMean: tf.Variable | null
  readonly runningVar: tf.Variable | null
  /** BatchNorm uses batch statistics (and updates the running ones) while training. */
  training = true

  constructor(o: GateOptions) {
    this.inputDim = o.inputDim
    this.nExperts = o.nExperts
    this.norm = o.norm
    this.eps = o.eps ?? 1e-5
    this.momentum = o.momentum ?? 0.1
    this.G = tf.variable(tf.zeros([o.inputDim, o.nExperts]))
    const bn = o.norm === 'batchnorm'
    this.runningMean = bn ? tf.variable(tf.zeros([o.nExperts]), false) : null
    this.runningVar = bn ? tf.variable(tf.ones([o.nExperts]), false) : null
  }

  /** x [rows, I] → a [rows, N], each row on the simplex. */
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      if (this.norm === 'layernorm') return layerNormGate(x, this.G as tf.Tensor2D, this.eps)
      const running = { mean: this.runningMean as tf.Variable, variance: this.runningVar as tf.Variable }
      return batchNormGate(x, this.G as tf.Tensor2D, running, { training: this.training, eps: this.eps, momentum: this.momentum })
    })
  }

  variables(): Record<string, tf.Variable> {
    return { G: this.G }
  }

  dispose(): void {
    tf.dispose([this.G, ...(this.runningMean ? [this.runningMean] : []), ...(this.runningVar ? [this.runningVar] : [])])
  }
}

// ------------------------------------------------------------------------------ μMoE layers

export interface LayerDims {
  inputDim: number
  outputDim: number
  nExperts: number
}

/** A factorized μMoE layer: y = Σ_n a_n W_nᵀ [z; 1] for z [rows, I], a [rows, N]. */
export interface MuMoELayer extends LayerDims {
  readonly kind: 'cp' | 'tr'
  forward(z: tf.Tensor2D, a: tf.Tensor2D): tf.Tensor2D
  /** Trainable factors by name (storage layouts as the header). */
  variables(): Record<string, tf.Variable>
  dispose(): void
}

// The two mixtures as functions of their factors, so a trainable layer (below) and a loaded model
// (models/gpt2.ts) compute them with the same code.

export interface CPFactorTensors {
  U1: tf.Tensor
  U2: tf.Tensor
  U3t: tf.Tensor
}

/** CP: y = U3 ((U1ᵀa) ∗ (U2ᵀz̃)) for z [rows, I], a [rows, N]. */
export function cpMix(z: tf.Tensor2D, a: tf.Tensor2D, f: CPFactorTensors): tf.Tensor2D {
  // U1ᵀa: the gate mixed into rank space, [rows, R]
  const expertMode = mm(a, f.U1 as tf.Tensor2D)
  // U2ᵀz̃: the input in rank space, [rows, R]
  const inputMode = mm(foldBias(z), f.U2 as tf.Tensor2D)
  // y = U3 (· ∗ ·): Hadamard product of the two, mapped to the output, [rows, O]
  return mm(tf.mul(expertMode, inputMode), f.U3t as tf.Tensor2D)
}

export interface TRFactorTensors {
  /** [N, r1, r2] */
  G1: tf.Tensor
  /** [I+1, r2, r3] */
  G2: tf.Tensor
  /** [r1, r3, O] */
  G3: tf.Tensor
}

/** TR: y_o = Σ_ijk A[i,j] B[j,k] G3[i,k,o] with A = G1 ×₂ a, B = G2 ×₂ z̃ (the stored layouts). */
export function trMix(z: tf.Tensor2D, a: tf.Tensor2D, f: TRFactorTensors): tf.Tensor2D {
  const [nExperts, r1, r2] = f.G1.shape as [number, number, number]
  const [inRows, , r3] = f.G2.shape as [number, number, number]
  const outDim = f.G3.shape[2] as number
  const rows = z.shape[0]
  // A = G1 ×₂ a: each row's expert core mixed by its gate, [rows, r1, r2]
  const A = tf.reshape(mm(a, tf.reshape(f.G1, [nExperts, r1 * r2]) as tf.Tensor2D), [rows, r1, r2])
  // B = G2 ×₂ z̃: the input core contracted with the input, [rows, r2, r3]
  const B = tf.reshape(mm(foldBias(z), tf.reshape(f.G2, [inRows, r2 * r3]) as tf.Tensor2D), [rows, r2, r3])
  // AB: the ring's two contracted cores multiplied, [rows, r1, r3]
  const AB = mm(A as tf.Tensor3D, B as tf.Tensor3D)
  // y_o = Σ_ik AB[i,k] G3[k,o,i]: close the ring with the output core, [rows, O]
  return mm(tf.reshape(AB, [rows, r1 * r3]) as tf.Tensor2D, tf.reshape(f.G3, [r1 * r3, outDim]) as tf.Tensor2D)
}

/** CPμMoE: 𝓦 = [[U1, U2, U3]], rank R. */
export class CPMuMoE implements MuMoELayer {
  readonly kind = 'cp'
  readonly inputDim: number
  readonly outputDim: number
  readonly nExperts: number
  readonly rank: number
  /** U1 [N, R] ~ N(1, 1): every expert starts near the same shared linear map. */
  readonly U1: tf.Variable
  /** U2 [I+1, R] ~ U(±sqrt(1/I)): the input factor (its last row is the bias). */
  readonly U2: tf.Variable
  /** U3t [R, O] = U3ᵀ ~ U(±sqrt(1/R)): the output factor; fan-in is the rank it contracts. */
  readonly U3t: tf.Variable

  constructor(dims: LayerDims, rank: number, seed?: number) {
    this.inputDim = dims.inputDim
    this.outputDim = dims.outputDim
    this.nExperts = dims.nExperts
    this.rank = rank
    this.U1 = normalVar([dims.nExperts, rank], 1, 1, nextSeed(seed, 0))
    this.U2 = uniformVar([dims.inputDim + 1, rank], dims.inputDim, nextSeed(seed, 1))
    this.U3t = uniformVar([rank, dims.outputDim], rank, nextSeed(seed, 2))
  }

  forward(z: tf.Tensor2D, a: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => cpMix(z, a, this))
  }

  variables(): Record<string, tf.Variable> {
    return { U1: this.U1, U2: this.U2, U3t: this.U3t }
  }

  dispose(): void {
    tf.dispose([this.U1, this.U2, this.U3t])
  }
}

/** Tensor-ring ranks: G1 ∈ R^{r1×N×r2}, G2 ∈ R^{r2×(I+1)×r3}, G3 ∈ R^{r3×O×r1}. */
export interface TRRanks {
  r1: number
  r2: number
  r3: number
}

/** TRμMoE: 𝓦 = TR(G1, G2, G3). */
export class TRMuMoE implements MuMoELayer {
  readonly kind = 'tr'
  readonly inputDim: number
  readonly outputDim: number
  readonly nExperts: number
  readonly ranks: TRRanks
  /** G1 [N, r1, r2]: each expert slice diagonal with N(1, 1) entries (official init). */
  readonly G1: tf.Variable
  /** G2 [I+1, r2, r3] ~ U(±sqrt(1/I)). */
  readonly G2: tf.Variable
  /** G3 [r1, r3, O] ~ U(±sqrt(1/(r1·r3))): fan-in is the two ranks it contracts. */
  readonly G3: tf.Variable

  constructor(dims: LayerDims, ranks: TRRanks, seed?: number) {
    const { r1, r2, r3 } = ranks
    this.inputDim = dims.inputDim
    this.outputDim = dims.outputDim
    this.nExperts = dims.nExperts
    this.ranks = { r1, r2, r3 }
    this.G1 = tf.variable(
      tf.tidy(() => tf.mul(tf.eye(r1, r2), tf.randomNormal([dims.nExperts, r1, r2], 1, 1, 'float32', nextSeed(seed, 0)))),
    )
    this.G2 = uniformVar([dims.inputDim + 1, r2, r3], dims.inputDim, nextSeed(seed, 1))
    this.G3 = uniformVar([r1, r3, dims.outputDim], r1 * r3, nextSeed(seed, 2))
  }

  forward(z: tf.Tensor2D, a: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => trMix(z, a, this))
  }

  variables(): Record<string, tf.Variable> {
    return { G1: this.G1, G2: this.G2, G3: this.G3 }
  }

  dispose(): void {
    tf.dispose([this.G1, this.G2, this.G3])
  }
}

// -------------------------------------------------------------------------- gated μMoE module

export type MuMoEKind = 'cp' | 'tr'
export type Activation = 'gelu_new' | 'gelu'

export interface MuMoEOptions {
  kind: MuMoEKind
  inputDim: number
  outputDim: number
  /** When set, a second μMoE layer outputDim → secondDim follows an activation (MLP block). */
  secondDim?: number
  nExperts: number
  /** CP rank (kind 'cp') or tensor-ring ranks (kind 'tr'), shared by both layers. */
  rank: number | TRRanks
  norm: GateNorm
  /** Between the two layers: GPT-2's tanh-approximate GELU by default (the official code: exact). */
  activation?: Activation
  seed?: number
}

function makeLayer(kind: MuMoEKind, dims: LayerDims, rank: number | TRRanks, seed?: number): MuMoELayer {
  if (kind === 'cp') {
    if (typeof rank !== 'number') throw new Error('CPμMoE needs a single integer rank')
    return new CPMuMoE(dims, rank, seed)
  }
  if (typeof rank === 'number') throw new Error('TRμMoE needs ranks { r1, r2, r3 }')
  return new TRMuMoE(dims, rank, seed)
}

/** The pieces of a gated μMoE module, however their tensors are held. */
export interface MixtureParts {
  nExperts: number
  /** x rows [rows, I] → a [rows, N] */
  gate: (rows: tf.Tensor2D) => tf.Tensor2D
  first: (z: tf.Tensor2D, a: tf.Tensor2D) => tf.Tensor2D
  /** The second layer of an MLP block (after `activation`), or null. */
  second: ((z: tf.Tensor2D, a: tf.Tensor2D) => tf.Tensor2D) | null
  activation: (x: tf.Tensor) => tf.Tensor
}

/** Where a μMoE MLP reports (and may replace) its gate and its hidden activation, as [..., width]. */
export interface MixtureHooks {
  gate?: (a: tf.Tensor) => tf.Tensor
  post?: (act: tf.Tensor) => tf.Tensor
}

/**
 * The gated μMoE module's forward for x [..., I]: one gate a = gate(x) drives the first layer and
 * (after the activation) the second. Every leading axis (batch, tokens) is folded into rows.
 * Returns y [..., O] and a [..., N].
 */
export function mixtureForward(x: tf.Tensor, m: MixtureParts, hooks: MixtureHooks = {}): { y: tf.Tensor; a: tf.Tensor } {
  const lead = x.shape.slice(0, -1)
  const unfold = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [...lead, t.shape[t.rank - 1] as number])
  const fold = (t: tf.Tensor): tf.Tensor2D => tf.reshape(t, [-1, t.shape[t.rank - 1] as number]) as tf.Tensor2D
  const rows = fold(x)
  let a = m.gate(rows)
  if (hooks.gate) a = fold(hooks.gate(unfold(a)))
  let y = m.first(rows, a)
  if (m.second) {
    let hidden = m.activation(y) as tf.Tensor2D
    if (hooks.post) hidden = fold(hooks.post(unfold(hidden)))
    y = m.second(hidden, a)
  }
  return { y: unfold(y), a: unfold(a) }
}

/**
 * A gate and one μMoE layer, or two sharing the gate (GPT-2 MLP: d → 4d, GELU, 4d → d). The gate
 * reads the module's input x, as the official code.
 */
export class MuMoE {
  readonly gate: MuMoEGate
  readonly first: MuMoELayer
  readonly second: MuMoELayer | null
  readonly activation: Activation

  constructor(readonly options: MuMoEOptions) {
    const { kind, inputDim, outputDim, secondDim, nExperts, rank, seed } = options
    this.gate = new MuMoEGate({ inputDim, nExperts, norm: options.norm })
    this.first = makeLayer(kind, { inputDim, outputDim, nExperts }, rank, nextSeed(seed, 0))
    this.second = secondDim ? makeLayer(kind, { inputDim: outputDim, outputDim: secondDim, nExperts }, rank, nextSeed(seed, 10)) : null
    this.activation = options.activation ?? 'gelu_new'
  }

  /** BatchNorm gate: training uses batch statistics, eval the running ones. */
  set training(on: boolean) {
    this.gate.training = on
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.forwardWithGate(x).y)
  }

  /** y and the expert coefficients a [..., N] (for expert analysis: top tokens per expert). */
  forwardWithGate(x: tf.Tensor): { y: tf.Tensor; a: tf.Tensor } {
    const act = this.activation === 'gelu_new' ? geluNew : gelu
    const second = this.second
    return tf.tidy(() =>
      mixtureForward(x, {
        gate: (rows) => this.gate.forward(rows),
        nExperts: this.gate.nExperts,
        first: (z, a) => this.first.forward(z, a),
        second: second ? (z, a) => second.forward(z, a) : null,
        activation: act,
      }),
    )
  }

  /** Every trainable variable, by a stable name (gate.G, first.U1, second.G3, …). */
  variables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {}
    const add = (prefix: string, vars: Record<string, tf.Variable>): void => {
      for (const [k, v] of Object.entries(vars)) out[`${prefix}.${k}`] = v
    }
    add('gate', this.gate.variables())
    add('first', this.first.variables())
    if (this.second) add('second', this.second.variables())
    return out
  }

  paramCount(): number {
    return Object.values(this.variables()).reduce((n, v) => n + v.size, 0)
  }

  dispose(): void {
    this.gate.dispose()
    this.first.dispose()
    this.second?.dispose()
  }
}

// ------------------------------------------------------------------------- parameter counting

export const gateParamCount = (inputDim: number, nExperts: number): number => inputDim * nExperts

/** CP factors: R·(N + (I+1) + O). */
export const cpLayerParamCount = (d: LayerDims, rank: number): number => rank * (d.nExperts + d.inputDim + 1 + d.outputDim)

/** TR cores: r1·N·r2 + r2·(I+1)·r3 + r3·O·r1. */
export const trLayerParamCount = (d: LayerDims, { r1, r2, r3 }: TRRanks): number =>
  r1 * d.nExperts * r2 + r2 * (d.inputDim + 1) * r3 + r3 * d.outputDim * r1

/** The dense MLP being replaced: d → hidden (bias) → out (bias). */
export interface MlpDims {
  dModel: number
  hidden: number
  /** Defaults to dModel. */
  outDim?: number
}

export const denseMlpParamCount = ({ dModel, hidden, outDim = dModel }: MlpDims): number =>
  dModel * hidden + hidden + hidden * outDim + outDim

/** Parameters of a two-layer μMoE MLP block (gate + both layers). */
export function mumoeMlpParamCount(m: MlpDims, nExperts: number, kind: MuMoEKind, rank: number | TRRanks): number {
  const l1 = { inputDim: m.dModel, outputDim: m.hidden, nExperts }
  const l2 = { inputDim: m.hidden, outputDim: m.outDim ?? m.dModel, nExperts }
  const layer = (d: LayerDims): number => (kind === 'cp' ? cpLayerParamCount(d, rank as number) : trLayerParamCount(d, rank as TRRanks))
  return gateParamCount(m.dModel, nExperts) + layer(l1) + layer(l2)
}

/**
 * The largest CP rank whose two-layer μMoE block has at most the dense MLP's parameters. The block
 * has I·N (gate) + R·(N + I+1 + H) + R·(N + H+1 + O) parameters, linear in R, so
 *   R = floor((dense − I·N) / (2N + I + 2H + O + 2)).
 * GPT-2 small (d = 768, H = 3072), 64 experts: R = 598 ≈ 0.779·d (the official code: int(0.78·d) = 599);
 * 256 experts: R = 552 (official: int(0.725·d) = 556).
 */
export function matchedCpRank(m: MlpDims, nExperts: number): number {
  const { dModel: I, hidden: H, outDim: O = m.dModel } = m
  const N = nExperts
  return Math.max(0, Math.floor((denseMlpParamCount(m) - I * N) / (2 * N + I + 2 * H + O + 2)))
}

/**
 * Tensor-ring ranks for the same budget with r1, r2 fixed (official: 4, 4): the block has
 * I·N + 2·r1·r2·N + r3·(r2(I+1) + r1·H + r2(H+1) + r1·O) parameters, linear in r3.
 * GPT-2 small, 64 experts: r3 = 152 ≈ 0.198·d (official: int(0.2·d) = 153); 256 experts: 147.
 */
export function matchedTrRanks(m: MlpDims, nExperts: number, r1 = 4, r2 = 4): TRRanks {
  const { dModel: I, hidden: H, outDim: O = m.dModel } = m
  const N = nExperts
  const perR3 = r2 * (I + 1) + r1 * H + r2 * (H + 1) + r1 * O
  const r3 = Math.max(0, Math.floor((denseMlpParamCount(m) - I * N - 2 * r1 * r2 * N) / perR3))
  return { r1, r2, r3 }
}

/** A GPT-2 MLP replacement (d → 4d GELU(tanh) → d, LayerNorm gate) with the dense MLP's budget. */
export function gpt2MuMoEMlp(dModel: number, nExperts: number, kind: MuMoEKind, seed?: number): MuMoE {
  const m = { dModel, hidden: 4 * dModel }
  const rank = kind === 'cp' ? matchedCpRank(m, nExperts) : matchedTrRanks(m, nExperts)
  return new MuMoE({ kind, inputDim: dModel, outputDim: 4 * dModel, secondDim: dModel, nExperts, rank, norm: 'layernorm', seed })
}
