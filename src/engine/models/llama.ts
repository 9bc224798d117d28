// Llama (Hugging Face LlamaForCausalLM: Llama 2/3, and the many models that copy it):
//   x = embed_tokens[ids]                               rotary positions, nothing added here
//   per block:  x = x + attn(rms1(x));  x = x + mlp(rms2(x))    (pre-norm, RMSNorm, no biases)
//   attn: rotary on every channel; grouped-query attention when num_key_value_heads < heads
//   mlp(x) = (silu(x W_gate) ∗ (x W_up)) W_down          SwiGLU: hook_post is the product
//   logits = norm(x) lm_headᵀ                            lm_head = embed_tokens when tied
import { tf } from '../backend.js'
import { hookNames } from '../hooks.js'
import type { ValidConfig } from '../architectures.js'
import { embedding, linear, llama3InverseFrequencies, rmsNorm, ropeInverseFrequencies, silu, type Linear } from '../ops.js'
import type { DecoderBlock, DecoderSpec } from './model.js'
import { WeightLoader, type WeightSource } from './weights.js'

/** `valid` has been checked against architectures.ts (head grouping, even head_dim, rope_scaling…). */
export function loadLlama(valid: ValidConfig, source: WeightSource): DecoderSpec {
  const config = valid.raw
  const { dModel: d, nHeads, nKvHeads, headDim, dMlp, vocabSize: vocab, nLayers, maxPositions } = valid.dims
  const eps = valid.number('rms_norm_eps')

  const weights = new WeightLoader(source, 'model.')
  const norm = (prefix: string) => {
    const w = weights.vector(`${prefix}.weight`, d)
    return (x: tf.Tensor) => rmsNorm(x, w, eps)
  }
  const embedTokens = weights.matrix('embed_tokens.weight', vocab, d)

  const blocks: DecoderBlock[] = []
  for (let l = 0; l < nLayers; l++) {
    const p = `layers.${l}`
    const gate = weights.torchLinear(`${p}.mlp.gate_proj`, d, dMlp)
    const up = weights.torchLinear(`${p}.mlp.up_proj`, d, dMlp)
    const down = weights.torchLinear(`${p}.mlp.down_proj`, dMlp, d)
    blocks.push({
      ln1: norm(`${p}.input_layernorm`),
      attn: {
        qkv: fuseQkv(weights, `${p}.self_attn`, d, nHeads * headDim, nKvHeads * headDim),
        out: weights.torchLinear(`${p}.self_attn.o_proj`, nHeads * headDim, d),
      },
      ln2: norm(`${p}.post_attention_layernorm`),
      mlp: (x, post) => linear(post(tf.mul(silu(linear(x, gate)), linear(x, up))), down),
    })
  }
  const lnFinal = norm('norm')
  // Tied models (Llama 3.2 1B/3B) ship no lm_head: reuse the embedding, transposed once.
  const unembed: Linear = valid.boolean('tie_word_embeddings')
    ? { w: weights.derive(() => tf.transpose(embedTokens)), b: null }
    : weights.torchLinear('lm_head', d, vocab)

  return {
    architecture: 'llama',
    config,
    dims: {
      nLayers,
      dModel: d,
      nHeads,
      nKvHeads,
      headDim,
      dMlp,
      vocabSize: vocab,
      maxPositions,
      bosId: valid.tokenIds('bos_token_id')[0] ?? null,
      eosIds: valid.tokenIds('eos_token_id'),
    },
    parallelResidual: false,
    hasPosEmbed: false,
    embed: (ids, _positions, hook) => hook(hookNames.embed, embedding(embedTokens, ids)),
    rotaryInvFreq: rotaryFrequencies(valid, headDim),
    blocks,
    lnFinal,
    unembed: (x) => linear(x, unembed),
    tensors: weights.tensors,
  }
}

/** q, k and v projections concatenated into the one [in, q|k|v] matrix attention() expects. */
function fuseQkv(weights: WeightLoader, prefix: string, d: number, qDim: number, kvDim: number): Linear {
  const parts = [
    weights.torchLinear(`${prefix}.q_proj`, d, qDim),
    weights.torchLinear(`${prefix}.k_proj`, d, kvDim),
    weights.torchLinear(`${prefix}.v_proj`, d, kvDim),
  ]
  const biases = parts.flatMap((l) => (l.b ? [l.b] : []))
  const w = weights.derive(() =>
    tf.concat(
      parts.map((l) => l.w),
      1,
    ),
  )
  const b = biases.length === 3 ? weights.derive(() => tf.concat(biases, 0)) : null
  weights.free([...parts.map((l) => l.w), ...biases])
  return { w, b }
}

/** Default rotary frequencies, rescaled when rope_scaling asks for Llama 3's scheme (checked in architectures.ts). */
function rotaryFrequencies(valid: ValidConfig, headDim: number): Float32Array {
  const base = ropeInverseFrequencies(valid.number('rope_theta'), headDim)
  const s = valid.value('rope_scaling') as Record<string, number | string> | null
  if (s === null || (s.rope_type ?? s.type ?? 'default') === 'default') return base
  return llama3InverseFrequencies(base, {
    factor: s.factor as number,
    lowFreqFactor: s.low_freq_factor as number,
    highFreqFactor: s.high_freq_factor as number,
    originalMaxPositions: s.original_max_position_embeddings as number,
  })
}
