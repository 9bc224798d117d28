// MLP-Mixer (Tolstikhin et al. 2021) for small images, with dense or μMoE channel-mixing MLPs.
//
//   patches  X₀ = patchify(image) Wp + bp        P = (H/p)·(W/p) patches of p×p×C_in pixels → C
//   block ×D U  = X + (GELU(LN₁(X)ᵀ T1 + t1) T2 + t2)ᵀ      token mixing: an MLP over the P patches,
//                                                             shared by the C channels (transposed)
//            X' = U + channelMLP(LN₂(U))                      channel mixing: per patch, C → Dc → C
//   head     logits = mean_patches(LN(X_D)) Wh + bh
//
// channelMLP is dense, GELU(x W1 + b1) W2 + b2, or a μMoE block (layers/mumoe.ts): two CPμMoE or
// TRμMoE layers C → Dc → C with GELU between, both mixed by one gate read from the block's input,
//   a = entmax15(BatchNorm_noaffine(x G)),  G = 0 at init (every patch starts with a = 1/N),
// the statistics taken over all patches of the batch. The parameter-matched rank (μMoE block no
// larger than the dense MLP it replaces) is the default; matchedMixerRank gives it to the UI.
//
// A patch's pixel vector is ordered (dy, dx, channel) and patches row-major; GELU is the exact erf
// form; LayerNorm eps = 1e-5 (torch's defaults, which the golden fixtures use).
// Parameter names: patch.{weight,bias}; blocks.<i>.norm1.*, blocks.<i>.token.fc1.* [P, Dt],
// blocks.<i>.token.fc2.* [Dt, P], blocks.<i>.norm2.*, blocks.<i>.channel.fc1.*/fc2.* (dense) or
// blocks.<i>.channel.gate.G, blocks.<i>.channel.first.<factor>, blocks.<i>.channel.second.<factor>
// (μMoE; factor layouts as layers/mumoe.ts); norm.*; head.*. Buffers (μMoE):
// blocks.<i>.channel.gate.running_mean / running_var [N].
import { z } from 'zod'
import { tf } from '../backend.js'
import {
  batchNormGate,
  cpMix,
  CPMuMoE,
  cpLayerParamCount,
  denseMlpParamCount,
  gateParamCount,
  matchedCpRank,
  matchedTrRanks,
  mixtureForward,
  trLayerParamCount,
  trMix,
  TRMuMoE,
  type LayerDims,
  type MlpDims,
  type TRRanks,
} from '../layers/mumoe.js'
import { gelu, layerNorm, linear } from '../ops.js'
import {
  initLayerNorm,
  initLinear,
  linearOf,
  linearParamCount,
  nextSeed,
  param,
  type Classifier,
  type ClassifierModule,
  type ClassifierParams,
  type ImageShape,
} from './classifier.js'

export const MIXER_CHANNEL_KINDS = ['dense', 'cpmoe', 'trmoe'] as const
export type MixerChannelKind = (typeof MIXER_CHANNEL_KINDS)[number]

export const mixerSchema = z
  .object({
    /** Patch side p (must divide the image's height and width). */
    patch: z.number().int().min(1).max(64).default(4),
    /** Channels C of every patch token. */
    hidden: z.number().int().min(1).max(2048).default(128),
    /** Hidden width Dt of the token-mixing MLP. */
    tokenMixing: z.number().int().min(1).max(4096).default(64),
    /** Hidden width Dc of the channel-mixing MLP. */
    channelMixing: z.number().int().min(1).max(8192).default(512),
    depth: z.number().int().min(1).max(32).default(4),
    mlp: z.enum(MIXER_CHANNEL_KINDS).default('dense'),
    /** μMoE only: the number of experts N. */
    experts: z.number().int().min(2).max(4096).default(16),
    /** μMoE only: CP rank R, or TR's r3; unset = the parameter-matched rank. */
    rank: z.number().int().min(1).max(8192).optional(),
    /** TRμMoE only: r1 = r2 (the expert mode's ring ranks). */
    ringRank: z.number().int().min(1).max(64).default(4),
  })
  .strict()
export type MixerConfig = z.infer<typeof mixerSchema>

const LN_EPS = 1e-5
const BN = { eps: 1e-5, momentum: 0.1 }

/** The channel-mixing MLP's dimensions (C → Dc → C). */
const channelDims = (c: MixerConfig): MlpDims => ({ dModel: c.hidden, hidden: c.channelMixing })

/**
 * The μMoE channel MLP's rank: the configured one, or the largest with at most the dense MLP's
 * parameters (layers/mumoe.ts matchedCpRank / matchedTrRanks; the μMoE block is short of the
 * dense one by less than what one more unit of R, or of r3, would add).
 */
export function mixerChannelRank(c: MixerConfig): number | TRRanks {
  if (c.mlp === 'dense') throw new Error('a dense channel MLP has no rank')
  const m = channelDims(c)
  if (c.mlp === 'cpmoe') {
    const rank = c.rank ?? matchedCpRank(m, c.experts)
    if (rank < 1) throw new Error(`${c.experts} experts leave no CP rank within the dense MLP's budget: use fewer experts or set the rank`)
    return rank
  }
  const ranks = c.rank ? { r1: c.ringRank, r2: c.ringRank, r3: c.rank } : matchedTrRanks(m, c.experts, c.ringRank, c.ringRank)
  if (ranks.r3 < 1) throw new Error(`${c.experts} experts leave no TR rank within the dense MLP's budget: use fewer experts, a smaller ring rank, or set the rank`)
  return ranks
}

/** Parameters of one channel-mixing MLP as configured. */
export function channelMlpParamCount(c: MixerConfig): number {
  const m = channelDims(c)
  if (c.mlp === 'dense') return denseMlpParamCount(m)
  const rank = mixerChannelRank(c)
  const l1: LayerDims = { inputDim: c.hidden, outputDim: c.channelMixing, nExperts: c.experts }
  const l2: LayerDims = { inputDim: c.channelMixing, outputDim: c.hidden, nExperts: c.experts }
  const layer = (d: LayerDims): number => (typeof rank === 'number' ? cpLayerParamCount(d, rank) : trLayerParamCount(d, rank))
  return gateParamCount(c.hidden, c.experts) + layer(l1) + layer(l2)
}

export interface MatchedRank {
  /** CP rank, or TR ranks. */
  rank: number | TRRanks
  /** Whole-model trainable parameters: the dense mixer and this μMoE mixer. */
  denseParams: number
  mumoeParams: number
}

/** For the UI: the parameter-matched rank of a μMoE mixer and both models' sizes. */
export function matchedMixerRank(config: MixerConfig, shape: ImageShape): MatchedRank {
  const matched = { ...config, rank: undefined }
  return {
    rank: mixerChannelRank(matched),
    denseParams: mixerParamCount({ ...config, mlp: 'dense' }, shape),
    mumoeParams: mixerParamCount(matched, shape),
  }
}

function patchCount(c: MixerConfig, s: ImageShape): number {
  if (s.height % c.patch !== 0 || s.width % c.patch !== 0) {
    throw new Error(`patch size ${c.patch} does not divide the ${s.height}×${s.width} images: choose a divisor of both`)
  }
  return (s.height / c.patch) * (s.width / c.patch)
}

export function mixerParamCount(c: MixerConfig, s: ImageShape): number {
  const P = patchCount(c, s)
  const C = c.hidden
  const block = 2 * 2 * C + linearParamCount(P, c.tokenMixing) + linearParamCount(c.tokenMixing, P) + channelMlpParamCount(c)
  return linearParamCount(c.patch * c.patch * s.channels, C) + c.depth * block + 2 * C + linearParamCount(C, s.classes)
}

/** images [B, H, W, Cin] → patch rows [B, P, p·p·Cin], each ordered (dy, dx, channel). */
export function patchify(images: tf.Tensor4D, p: number): tf.Tensor3D {
  const [B, H, W, Cin] = images.shape
  // [B·H/p, p, W/p, p·Cin] → swap the two middle axes → [B, (H/p)·(W/p), p·p·Cin]; rank 4 keeps
  // every backend's transpose happy.
  const grid = tf.reshape(images, [(B * H) / p, p, W / p, p * Cin])
  return tf.reshape(tf.transpose(grid, [0, 2, 1, 3]), [B, (H / p) * (W / p), p * p * Cin]) as tf.Tensor3D
}

/** The μMoE channel MLP of one block: factors by name and the gate's running statistics. */
function channelMoE(c: MixerConfig, params: ClassifierParams, prefix: string, x: tf.Tensor, training: boolean): { y: tf.Tensor; a: tf.Tensor } {
  const w = params.weights
  const factor = (layer: string, name: string): tf.Tensor => param(w, `${prefix}.${layer}.${name}`)
  const mix = (layer: 'first' | 'second') =>
    c.mlp === 'cpmoe'
      ? (z: tf.Tensor2D, a: tf.Tensor2D) => cpMix(z, a, { U1: factor(layer, 'U1'), U2: factor(layer, 'U2'), U3t: factor(layer, 'U3t') })
      : (z: tf.Tensor2D, a: tf.Tensor2D) => trMix(z, a, { G1: factor(layer, 'G1'), G2: factor(layer, 'G2'), G3: factor(layer, 'G3') })
  const running = { mean: param(params.buffers, `${prefix}.gate.running_mean`), variance: param(params.buffers, `${prefix}.gate.running_var`) }
  return mixtureForward(x, {
    nExperts: c.experts,
    gate: (rows) => batchNormGate(rows, param(w, `${prefix}.gate.G`) as tf.Tensor2D, running, { training, ...BN }),
    first: mix('first'),
    second: mix('second'),
    activation: gelu,
  })
}

/**
 * One channel-mixing MLP on x [B, P, C] (already normalised): y, and for a μMoE block the gate
 * coefficients a [B, P, N] (what the expert view ranks images by). Exported for the layer tests.
 */
export function channelMix(c: MixerConfig, params: ClassifierParams, block: number, x: tf.Tensor, training: boolean): { y: tf.Tensor; a: tf.Tensor | null } {
  const prefix = `blocks.${block}.channel`
  if (c.mlp !== 'dense') return channelMoE(c, params, prefix, x, training)
  const h = gelu(linear(x, linearOf(params.weights, `${prefix}.fc1`)))
  return { y: linear(h, linearOf(params.weights, `${prefix}.fc2`)), a: null }
}

function initBlock(c: MixerConfig, P: number, i: number, seed: number | undefined): ClassifierParams {
  const s = (k: number): number | undefined => nextSeed(seed, k)
  const pre = `blocks.${i}`
  const weights: Record<string, tf.Variable> = {
    ...initLayerNorm(`${pre}.norm1`, c.hidden),
    ...initLinear(`${pre}.token.fc1`, P, c.tokenMixing, s(0)),
    ...initLinear(`${pre}.token.fc2`, c.tokenMixing, P, s(2)),
    ...initLayerNorm(`${pre}.norm2`, c.hidden),
  }
  const buffers: Record<string, tf.Variable> = {}
  const ch = `${pre}.channel`
  if (c.mlp === 'dense') {
    Object.assign(weights, initLinear(`${ch}.fc1`, c.hidden, c.channelMixing, s(4)), initLinear(`${ch}.fc2`, c.channelMixing, c.hidden, s(6)))
    return { weights, buffers }
  }
  // The μMoE layers' own initialisers (layers/mumoe.ts); their variables become ours.
  const rank = mixerChannelRank(c)
  const dims1 = { inputDim: c.hidden, outputDim: c.channelMixing, nExperts: c.experts }
  const dims2 = { inputDim: c.channelMixing, outputDim: c.hidden, nExperts: c.experts }
  const layers =
    typeof rank === 'number'
      ? [new CPMuMoE(dims1, rank, s(4)), new CPMuMoE(dims2, rank, s(14))]
      : [new TRMuMoE(dims1, rank, s(4)), new TRMuMoE(dims2, rank, s(14))]
  ;(['first', 'second'] as const).forEach((name, k) => {
    for (const [f, v] of Object.entries(layers[k]!.variables())) weights[`${ch}.${name}.${f}`] = v
  })
  weights[`${ch}.gate.G`] = tf.variable(tf.zeros([c.hidden, c.experts]))
  buffers[`${ch}.gate.running_mean`] = tf.variable(tf.zeros([c.experts]), false)
  buffers[`${ch}.gate.running_var`] = tf.variable(tf.ones([c.experts]), false)
  return { weights, buffers }
}

export function createMixer(config: MixerConfig, shape: ImageShape): Classifier {
  const c = config
  const P = patchCount(c, shape)
  if (c.mlp !== 'dense') mixerChannelRank(c) // refuse an impossible rank now, not at the first step
  const ln = (w: Record<string, tf.Variable>, name: string, x: tf.Tensor): tf.Tensor =>
    layerNorm(x, param(w, `${name}.weight`) as tf.Tensor1D, param(w, `${name}.bias`) as tf.Tensor1D, LN_EPS)

  return {
    kind: 'mixer',
    shape,
    init(seed) {
      const params: ClassifierParams = { weights: initLinear('patch', c.patch * c.patch * shape.channels, c.hidden, seed), buffers: {} }
      for (let i = 0; i < c.depth; i++) {
        const b = initBlock(c, P, i, nextSeed(seed, 100 * (i + 1)))
        Object.assign(params.weights, b.weights)
        Object.assign(params.buffers, b.buffers)
      }
      Object.assign(params.weights, initLayerNorm('norm', c.hidden), initLinear('head', c.hidden, shape.classes, nextSeed(seed, 50)))
      return params
    },
    forward(params, images, { training, onGate }) {
      const w = params.weights
      let x = linear(patchify(images, c.patch), linearOf(w, 'patch')) // [B, P, C]
      for (let i = 0; i < c.depth; i++) {
        const pre = `blocks.${i}`
        // Token mixing: the MLP runs along the patches, so transpose to [B, C, P] and back.
        const t = tf.transpose(ln(w, `${pre}.norm1`, x), [0, 2, 1])
        const mixed = linear(gelu(linear(t, linearOf(w, `${pre}.token.fc1`))), linearOf(w, `${pre}.token.fc2`))
        x = tf.add(x, tf.transpose(mixed, [0, 2, 1]))
        // Channel mixing: per patch, C → Dc → C (dense or μMoE).
        const channel = channelMix(c, params, i, ln(w, `${pre}.norm2`, x), training)
        if (onGate && channel.a) onGate(i, channel.a as tf.Tensor3D)
        x = tf.add(x, channel.y)
      }
      const pooled = tf.mean(ln(w, 'norm', x), 1) as tf.Tensor2D // [B, C]
      return linear(pooled, linearOf(w, 'head')) as tf.Tensor2D
    },
    paramCount: () => mixerParamCount(c, shape),
  }
}

export const mixerModule: ClassifierModule<typeof mixerSchema> = {
  kind: 'mixer',
  title: 'MLP-Mixer (dense, CPμMoE or TRμMoE channel mixing)',
  schema: mixerSchema,
  create: createMixer,
}
