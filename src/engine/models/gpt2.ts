// GPT-2 (Hugging Face GPT2LMHeadModel), as in nanoGPT's model.py:
//   x = wte[ids] + wpe[pos]
//   per block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))      (pre-norm, LayerNorm with bias)
//   mlp(x)    = gelu_new(x W_fc + b_fc) W_proj + b_proj           (4·d hidden unless n_inner)
//   logits    = ln_f(x) wteᵀ                                      (lm_head tied to wte)
// The one definition of GPT-2 in MxD Studio: the engine runs it on tensors loaded from a model
// folder (loadGpt2), the trainer (train/gpt2.ts) on its tf.Variables, both through gpt2Spec below
// and the ops in ../ops.ts, so a trained model and the same model loaded give the same logits.
// GPT-2's linear layers are Conv1D modules whose weights are already [in, out], so nothing is
// transposed except the tied unembedding.
//
// The MLP is dense, or (config "mlp_kind", MxD Studio's own field for GPT-2s pre-trained here)
// two μMoE layers d → 4d → d sharing one gate (layers/mumoe.ts), gelu_new between:
//   a = entmax15(LayerNorm_noaffine(x G)), reported through blocks.L.mlp.hook_gate
// Tensor names (under h.<l>.mlp.): gate.G [d, N]; first./second. U1 [N, R], U2 [I+1, R],
// U3t [R, O] (cpmoe) or G1 [N, r1, r2], G2 [I+1, r2, r3], G3 [r1, r3, O] (trmoe).
import { tf } from '../backend.js'
import { hookNames } from '../hooks.js'
import { cpMix, layerNormGate, mixtureForward, trMix, type TRRanks } from '../layers/mumoe.js'
import { embedding, geluNew, idGrid, layerNorm, linear, type Linear } from '../ops.js'
import type { DecoderBlock, DecoderSpec, ModelDims } from './model.js'
import type { ValidConfig } from '../config-fields.js'
import {
  divides,
  normTensors,
  num,
  oneOf,
  positiveInt,
  positiveNumber,
  range,
  show,
  TOKEN_FIELDS,
  type ArchitectureSchema,
  type PlannedTensor,
} from '../config-fields.js'
import type { ArchitectureModule } from './architecture.js'
import { type WeightSource, WeightLoader } from './weights.js'

export type Gpt2Mlp =
  { kind: 'dense' } | { kind: 'cpmoe'; nExperts: number; rank: number } | { kind: 'trmoe'; nExperts: number; ranks: TRRanks }

/** Everything about a GPT-2 besides its tensors. */
export interface Gpt2Shape {
  nLayers: number
  dModel: number
  nHeads: number
  /** MLP hidden width (4·d unless n_inner). */
  dMlp: number
  vocabSize: number
  /** Context length (learned position table size). */
  maxPositions: number
  layerNormEps: number
  mlp: Gpt2Mlp
}

/**
 * A GPT-2 tensor by its GPT2LMHeadModel name without "transformer." ("h.0.ln_1.weight"), of the
 * given shape (the source checks it).
 */
export type Gpt2Tensors = (name: string, shape: number[]) => tf.Tensor

/** GPT-2's μMoE factor names and shapes for one layer (`inDim` → `outDim`). */
export function mumoeFactorShapes(mlp: Exclude<Gpt2Mlp, { kind: 'dense' }>, inDim: number, outDim: number): Record<string, number[]> {
  const N = mlp.nExperts
  if (mlp.kind === 'cpmoe') return { U1: [N, mlp.rank], U2: [inDim + 1, mlp.rank], U3t: [mlp.rank, outDim] }
  const { r1, r2, r3 } = mlp.ranks
  return { G1: [N, r1, r2], G2: [inDim + 1, r2, r3], G3: [r1, r3, outDim] }
}

/**
 * The decoder for GPT-2 tensors `get`. `lmHead(wte)` gives the unembedding as [d, vocab] when the
 * caller keeps one (a separate lm_head, or the engine's once-transposed copy of wte); null
 * transposes wte on every forward, as a trainer must for wte's gradient to include the
 * unembedding's.
 */
export function gpt2Spec(
  s: Gpt2Shape,
  get: Gpt2Tensors,
  lmHead: (wte: tf.Tensor2D) => tf.Tensor2D | null,
  meta: { config: Record<string, unknown>; bosId: number | null; eosIds: number[]; tensors: tf.Tensor[] },
): DecoderSpec {
  const { dModel: d, dMlp, layerNormEps: eps } = s
  const conv1d = (prefix: string, inDim: number, outDim: number): Linear => ({
    w: get(`${prefix}.weight`, [inDim, outDim]) as tf.Tensor2D,
    b: get(`${prefix}.bias`, [outDim]) as tf.Tensor1D,
  })
  const norm = (prefix: string) => {
    const w = get(`${prefix}.weight`, [d]) as tf.Tensor1D
    const b = get(`${prefix}.bias`, [d]) as tf.Tensor1D
    return (x: tf.Tensor) => layerNorm(x, w, b, eps)
  }
  const wte = get('wte.weight', [s.vocabSize, d]) as tf.Tensor2D
  const wpe = get('wpe.weight', [s.maxPositions, d]) as tf.Tensor2D
  const head = lmHead(wte)

  const denseMlp = (h: string): DecoderBlock['mlp'] => {
    const fc = conv1d(`${h}.mlp.c_fc`, d, dMlp)
    const proj = conv1d(`${h}.mlp.c_proj`, dMlp, d)
    return (x, post) => linear(post(geluNew(linear(x, fc))), proj)
  }
  const mumoeMlp = (h: string, mlp: Exclude<Gpt2Mlp, { kind: 'dense' }>): DecoderBlock['mlp'] => {
    const G = get(`${h}.mlp.gate.G`, [d, mlp.nExperts]) as tf.Tensor2D
    const layer = (name: string, inDim: number, outDim: number): ((z: tf.Tensor2D, a: tf.Tensor2D) => tf.Tensor2D) => {
      const f = Object.fromEntries(
        Object.entries(mumoeFactorShapes(mlp, inDim, outDim)).map(([k, shape]) => [k, get(`${h}.mlp.${name}.${k}`, shape)]),
      )
      return mlp.kind === 'cpmoe'
        ? (z, a) => cpMix(z, a, { U1: f.U1!, U2: f.U2!, U3t: f.U3t! })
        : (z, a) => trMix(z, a, { G1: f.G1!, G2: f.G2!, G3: f.G3! })
    }
    const parts = {
      nExperts: mlp.nExperts,
      gate: (rows: tf.Tensor2D) => layerNormGate(rows, G, eps),
      first: layer('first', d, dMlp),
      second: layer('second', dMlp, d),
      activation: geluNew,
    }
    return (x, post, gate) => mixtureForward(x, parts, { post, gate }).y
  }

  const blocks: DecoderBlock[] = []
  for (let l = 0; l < s.nLayers; l++) {
    const h = `h.${l}`
    blocks.push({
      ln1: norm(`${h}.ln_1`),
      // c_attn's output columns are [q | k | v], each split into heads in order: the fused
      // layout attention() expects.
      attn: { qkv: conv1d(`${h}.attn.c_attn`, d, 3 * d), out: conv1d(`${h}.attn.c_proj`, d, d) },
      ln2: norm(`${h}.ln_2`),
      mlp: s.mlp.kind === 'dense' ? denseMlp(h) : mumoeMlp(h, s.mlp),
    })
  }

  const dims: ModelDims = {
    nLayers: s.nLayers,
    dModel: d,
    nHeads: s.nHeads,
    nKvHeads: s.nHeads,
    headDim: d / s.nHeads,
    dMlp,
    vocabSize: s.vocabSize,
    maxPositions: s.maxPositions,
    bosId: meta.bosId,
    eosIds: meta.eosIds,
  }
  return {
    architecture: 'gpt2',
    config: meta.config,
    dims,
    parallelResidual: false,
    hasPosEmbed: true,
    hasMlpGate: s.mlp.kind !== 'dense',
    // Learned absolute positions: the token and position embeddings are summed.
    embed: (ids, positions, hook) => {
      const tokens = hook(hookNames.embed, embedding(wte, ids))
      const pos = hook(hookNames.posEmbed, embedding(wpe, idGrid(positions)))
      return tf.add(tokens, pos)
    },
    rotaryInvFreq: null,
    blocks,
    lnFinal: norm('ln_f'),
    // Tied unembedding: logits = ln_f(x) wteᵀ.
    unembed: (x) => linear(x, { w: head ?? (tf.transpose(wte) as tf.Tensor2D), b: null }),
    tensors: meta.tensors,
  }
}

/** The sizes and MLP of a config.json checked against architectures.ts. */
export function gpt2Shape(valid: ValidConfig): Gpt2Shape {
  // "mlp_kind" is MxD Studio's own field: GPT-2s pre-trained with μMoE MLPs (src/engine/train).
  const kind = valid.string('mlp_kind')
  let mlp: Gpt2Mlp = { kind: 'dense' }
  if (kind === 'cpmoe') mlp = { kind, nExperts: valid.number('n_experts'), rank: valid.number('rank') }
  if (kind === 'trmoe') {
    const [r1, r2, r3] = valid.value('tr_ranks') as [number, number, number]
    mlp = { kind, nExperts: valid.number('n_experts'), ranks: { r1, r2, r3 } }
  }
  const { nLayers, dModel, nHeads, dMlp, vocabSize, maxPositions } = valid.dims
  return { nLayers, dModel, nHeads, dMlp, vocabSize, maxPositions, layerNormEps: valid.number('layer_norm_epsilon'), mlp }
}

// -------------------------------------------------------------------------- the folder format

/** What a GPT-2 folder's config.json must say and which tensors it must hold. */
export const GPT2_SCHEMA: ArchitectureSchema = {
  prefix: 'transformer.',
  fields: {
    ...TOKEN_FIELDS,
    n_embd: positiveInt(),
    n_head: positiveInt(),
    n_layer: positiveInt(),
    // GPT-2 writes n_inner: null for the default 4 × n_embd.
    n_inner: positiveInt((v) => 4 * num(v, 'n_embd')),
    vocab_size: positiveInt(),
    n_positions: { ...positiveInt(), aliases: ['n_ctx'] },
    layer_norm_epsilon: positiveNumber(1e-5),
    activation_function: oneOf(['gelu_new'], 'gelu_new'),
    scale_attn_weights: oneOf([true], true),
    scale_attn_by_inverse_layer_idx: oneOf([false], false),
    // MxD Studio's own field: GPT-2s pre-trained here with μMoE MLPs (src/engine/train).
    mlp_kind: oneOf(['dense', 'cpmoe', 'trmoe'], 'dense'),
    n_experts: { ...positiveInt(), when: (v) => v.mlp_kind !== 'dense' },
    rank: { ...positiveInt(), when: (v) => v.mlp_kind === 'cpmoe' },
    tr_ranks: {
      what: 'three positive integers [r1, r2, r3]',
      check: (v) =>
        Array.isArray(v) && v.length === 3 && v.every((r) => Number.isSafeInteger(r) && (r as number) > 0) ? null : `is ${show(v)}`,
      when: (v) => v.mlp_kind === 'trmoe',
    },
  },
  rules: [divides('n_head', 'n_embd', 'each attention head takes an equal slice of the width')],
  dims: (v) => ({
    nLayers: num(v, 'n_layer'),
    dModel: num(v, 'n_embd'),
    nHeads: num(v, 'n_head'),
    nKvHeads: num(v, 'n_head'),
    headDim: num(v, 'n_embd') / num(v, 'n_head'),
    dMlp: num(v, 'n_inner'),
    vocabSize: num(v, 'vocab_size'),
    maxPositions: num(v, 'n_positions'),
  }),
  tensors: (v, { nLayers, dModel: d, dMlp, vocabSize, maxPositions }) => {
    // GPT-2's Conv1D weights are [in, out].
    const conv1d = (p: string, inDim: number, outDim: number): PlannedTensor[] => [
      { name: `${p}.weight`, shape: [inDim, outDim] },
      { name: `${p}.bias`, shape: [outDim] },
    ]
    const mlp = (p: string): PlannedTensor[] => {
      if (v.mlp_kind === 'dense') return [...conv1d(`${p}.c_fc`, d, dMlp), ...conv1d(`${p}.c_proj`, dMlp, d)]
      const n = num(v, 'n_experts')
      const layer = (name: string, inDim: number, outDim: number): PlannedTensor[] => {
        if (v.mlp_kind === 'cpmoe') {
          const r = num(v, 'rank')
          return [
            { name: `${p}.${name}.U1`, shape: [n, r] },
            { name: `${p}.${name}.U2`, shape: [inDim + 1, r] },
            { name: `${p}.${name}.U3t`, shape: [r, outDim] },
          ]
        }
        const [r1, r2, r3] = v.tr_ranks as [number, number, number]
        return [
          { name: `${p}.${name}.G1`, shape: [n, r1, r2] },
          { name: `${p}.${name}.G2`, shape: [inDim + 1, r2, r3] },
          { name: `${p}.${name}.G3`, shape: [r1, r3, outDim] },
        ]
      }
      return [{ name: `${p}.gate.G`, shape: [d, n] }, ...layer('first', d, dMlp), ...layer('second', dMlp, d)]
    }
    return [
      { name: 'wte.weight', shape: [vocabSize, d] },
      { name: 'wpe.weight', shape: [maxPositions, d] },
      ...range(nLayers).flatMap((l) => [
        ...normTensors(`h.${l}.ln_1`, d),
        ...conv1d(`h.${l}.attn.c_attn`, d, 3 * d),
        ...conv1d(`h.${l}.attn.c_proj`, d, d),
        ...normTensors(`h.${l}.ln_2`, d),
        ...mlp(`h.${l}.mlp`),
      ]),
      ...normTensors('ln_f', d),
      // A separate lm_head is rare for GPT-2 (the unembedding is tied to wte).
      { name: 'lm_head.weight', shape: [vocabSize, d], optional: true },
    ]
  },
}

/** `valid` has been checked against GPT2_SCHEMA (activation, scaling flags, sizes). */
export function loadGpt2(valid: ValidConfig, source: WeightSource): DecoderSpec {
  const shape = gpt2Shape(valid)
  const weights = new WeightLoader(source, 'transformer.')
  const { vocabSize: vocab, dModel: d } = shape
  return gpt2Spec(
    shape,
    (name, dims) => weights.read(name, dims),
    // A separate lm_head (rare for GPT-2) wins over the tie; either way it is kept as [d, vocab],
    // transposed once here rather than on every forward.
    (wte) =>
      weights.has('lm_head.weight')
        ? weights.transform(weights.matrix('lm_head.weight', vocab, d), (t) => tf.transpose(t) as tf.Tensor2D)
        : weights.derive(() => tf.transpose(wte) as tf.Tensor2D),
    {
      config: valid.raw,
      bosId: valid.tokenIds('bos_token_id')[0] ?? null,
      eosIds: valid.tokenIds('eos_token_id'),
      tensors: weights.tensors,
    },
  )
}

export const gpt2Architecture: ArchitectureModule = { schema: GPT2_SCHEMA, load: loadGpt2 }
