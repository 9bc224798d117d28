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
import { rotaryDims as rotaryDimsOf, type ValidConfig } from '../architectures.js'
import { embedding, gelu, geluNew, layerNorm, linear, ropeInverseFrequencies, type Linear } from '../ops.js'
import type { DecoderBlock, DecoderSpec } from './model.js'
import { WeightLoader, type WeightSource } from './weights.js'

const ACTIVATIONS = { gelu, gelu_new: geluNew } as const

/** `valid` has been checked against architectures.ts (divisibility, rotary_pct, hidden_act…). */
export function loadGptNeox(valid: ValidConfig, source: WeightSource): DecoderSpec {
  const config = valid.raw
  const { dModel: d, nHeads, headDim, dMlp, vocabSize: vocab, nLayers, maxPositions } = valid.dims
  const eps = valid.number('layer_norm_eps')
  const rotaryDims = rotaryDimsOf(valid.fields)
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
    rotaryInvFreq: ropeInverseFrequencies(valid.number('rotary_emb_base'), rotaryDims),
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
