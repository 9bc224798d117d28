// GPT-NeoX (Hugging Face GPTNeoXForCausalLM: the Pythia suite):
//   x = embed_in[ids]                                  no position embedding: rotary instead
//   parallel (use_parallel_residual, Pythia's default):
//         x = x + attn(ln1(x)) + mlp(ln2(x))           both branches read the same stream
//   sequential: x = x + attn(ln1(x)); x = x + mlp(ln2(x))
//   attn: rotary on the first rotary_pct of each head's channels (Pythia: 25%)
//   mlp(x) = gelu(x W_in + b_in) W_out + b_out          exact (erf) GELU, hidden_act "gelu"
//   logits = final_layer_norm(x) embed_outᵀ            separate (untied) unembedding
import { tf } from '../backend.js'
import { hookNames } from '../hooks.js'
import type { ValidConfig } from '../config-fields.js'
import {
  boolean,
  divides,
  normTensors,
  num,
  oneOf,
  positiveInt,
  positiveNumber,
  range,
  show,
  TOKEN_FIELDS,
  torchLinear,
  type ArchitectureSchema,
  type Values,
} from '../config-fields.js'
import type { ArchitectureModule } from './architecture.js'
import { embedding, gelu, geluNew, layerNorm, linear, ropeInverseFrequencies, type Linear } from '../ops.js'
import type { DecoderBlock, DecoderSpec } from './model.js'
import { WeightLoader, type WeightSource } from './weights.js'

const ACTIVATIONS = { gelu, gelu_new: geluNew } as const

// -------------------------------------------------------------------------- the folder format

/** What a GPT-NeoX folder's config.json must say and which tensors it must hold. */
export const GPT_NEOX_SCHEMA: ArchitectureSchema = {
  prefix: 'gpt_neox.',
  fields: {
    ...TOKEN_FIELDS,
    hidden_size: positiveInt(),
    num_attention_heads: positiveInt(),
    num_hidden_layers: positiveInt(),
    intermediate_size: positiveInt(),
    vocab_size: positiveInt(),
    max_position_embeddings: positiveInt(),
    layer_norm_eps: positiveNumber(1e-5),
    rotary_pct: {
      what: 'a number greater than 0 and at most 1 (the share of each head rotated)',
      check: (v) => (typeof v === 'number' && v > 0 && v <= 1 ? null : `is ${show(v)}`),
      fallback: 0.25,
    },
    rotary_emb_base: positiveNumber(10000),
    use_parallel_residual: boolean(true),
    hidden_act: oneOf(['gelu', 'gelu_new'], 'gelu'),
    rope_scaling: oneOf([null], null),
  },
  rules: [
    divides('num_attention_heads', 'hidden_size', 'each attention head takes an equal slice of the width'),
    (v) => {
      const dims = rotaryDims(v)
      return dims >= 2 && dims % 2 === 0
        ? null
        : `"rotary_pct" = ${num(v, 'rotary_pct')} of the ${headDimOf(v)}-channel heads rotates ${dims} channels, but rotary embeddings turn channels in pairs: they need an even number, at least 2`
    },
  ],
  dims: (v) => ({
    nLayers: num(v, 'num_hidden_layers'),
    dModel: num(v, 'hidden_size'),
    nHeads: num(v, 'num_attention_heads'),
    nKvHeads: num(v, 'num_attention_heads'),
    headDim: headDimOf(v),
    dMlp: num(v, 'intermediate_size'),
    vocabSize: num(v, 'vocab_size'),
    maxPositions: num(v, 'max_position_embeddings'),
  }),
  tensors: (_v, { nLayers, dModel: d, dMlp, vocabSize }) => [
    { name: 'embed_in.weight', shape: [vocabSize, d] },
    ...range(nLayers).flatMap((l) => [
      ...normTensors(`layers.${l}.input_layernorm`, d),
      ...torchLinear(`layers.${l}.attention.query_key_value`, d, 3 * d),
      ...torchLinear(`layers.${l}.attention.dense`, d, d),
      ...normTensors(`layers.${l}.post_attention_layernorm`, d),
      ...torchLinear(`layers.${l}.mlp.dense_h_to_4h`, d, dMlp),
      ...torchLinear(`layers.${l}.mlp.dense_4h_to_h`, dMlp, d),
    ]),
    ...normTensors('final_layer_norm', d),
    ...torchLinear('embed_out', d, vocabSize),
  ],
}

const headDimOf = (v: Values): number => num(v, 'hidden_size') / num(v, 'num_attention_heads')

/** GPT-NeoX rotates the first floor(head_dim × rotary_pct) channels of each head, as HF does. */
export function rotaryDims(v: Values): number {
  return Math.floor(headDimOf(v) * num(v, 'rotary_pct'))
}

/** `valid` has been checked against GPT_NEOX_SCHEMA (divisibility, rotary_pct, hidden_act…). */
export function loadGptNeox(valid: ValidConfig, source: WeightSource): DecoderSpec {
  const config = valid.raw
  const { dModel: d, nHeads, headDim, dMlp, vocabSize: vocab, nLayers, maxPositions } = valid.dims
  const eps = valid.number('layer_norm_eps')
  const nRotary = rotaryDims(valid.fields)
  const parallelResidual = valid.boolean('use_parallel_residual')
  const act = ACTIVATIONS[valid.string('hidden_act') as keyof typeof ACTIVATIONS]

  const weights = new WeightLoader(source, 'gpt_neox.')
  const norm = (prefix: string) => {
    const w = weights.vector(`${prefix}.weight`, d)
    const b = weights.vector(`${prefix}.bias`, d)
    return (x: tf.Tensor) => layerNorm(x, w, b, eps)
  }
  const embedIn = weights.matrix('embed_in.weight', vocab, d)

  const blocks: DecoderBlock[] = []
  for (let l = 0; l < nLayers; l++) {
    const p = `layers.${l}`
    const dense4h = weights.torchLinear(`${p}.mlp.dense_h_to_4h`, d, dMlp)
    const dense4hToH = weights.torchLinear(`${p}.mlp.dense_4h_to_h`, dMlp, d)
    blocks.push({
      ln1: norm(`${p}.input_layernorm`),
      attn: {
        qkv: fusedQkv(weights, `${p}.attention.query_key_value`, nHeads, headDim),
        out: weights.torchLinear(`${p}.attention.dense`, d, d),
      },
      ln2: norm(`${p}.post_attention_layernorm`),
      mlp: (x, post) => linear(post(act(linear(x, dense4h))), dense4hToH),
    })
  }
  const lnFinal = norm('final_layer_norm')
  const unembed = weights.torchLinear('embed_out', d, vocab)

  return {
    architecture: 'gpt_neox',
    config,
    dims: {
      nLayers,
      dModel: d,
      nHeads,
      nKvHeads: nHeads,
      headDim,
      dMlp,
      vocabSize: vocab,
      maxPositions,
      bosId: valid.tokenIds('bos_token_id')[0] ?? null,
      eosIds: valid.tokenIds('eos_token_id'),
    },
    parallelResidual,
    hasPosEmbed: false,
    embed: (ids, _positions, hook) => hook(hookNames.embed, embedding(embedIn, ids)),
    rotaryInvFreq: ropeInverseFrequencies(valid.number('rotary_emb_base'), nRotary),
    blocks,
    lnFinal,
    unembed: (x) => linear(x, unembed),
    tensors: weights.tensors,
  }
}

/**
 * NeoX fuses q, k and v per head: output rows are [head 0: q k v][head 1: q k v]…, whereas
 * attention() wants [q of all heads | k of all heads | v of all heads] as [in, out]. Reorder once.
 */
function fusedQkv(weights: WeightLoader, prefix: string, nHeads: number, headDim: number): Linear {
  const d = nHeads * headDim
  const w = weights.transform(weights.matrix(`${prefix}.weight`, 3 * d, d), (t) =>
    tf.transpose(tf.reshape(tf.transpose(tf.reshape(t, [nHeads, 3, headDim, d]), [1, 0, 2, 3]), [3 * d, d])),
  ) as tf.Tensor2D
  // The bias is reordered in JS into a fresh 1-D tensor: the wasm backend's fused matMul (see
  // linear()) checks the rank of a bias's *storage*, which reshape, transpose or gather leave at
  // the rank they computed in.
  const b = weights.has(`${prefix}.bias`)
    ? (weights.transform(weights.vector(`${prefix}.bias`, 3 * d), (t) => {
        const stored = t.dataSync()
        return tf.tensor1d(
          Float32Array.from({ length: 3 * d }, (_, i) => {
            const [part, head, channel] = [Math.floor(i / d), Math.floor((i % d) / headDim), i % headDim]
            return stored[(head * 3 + part) * headDim + channel] as number
          }),
        )
      }) as tf.Tensor1D)
    : null
  return { w, b }
}

export const gptNeoxArchitecture: ArchitectureModule = { schema: GPT_NEOX_SCHEMA, load: loadGptNeox }
