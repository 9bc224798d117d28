// Llama (Hugging Face LlamaForCausalLM: Llama 2/3, and the many models that copy it):
//   x = embed_tokens[ids]                               rotary positions, nothing added here
//   per block:  x = x + attn(rms1(x));  x = x + mlp(rms2(x))    (pre-norm, RMSNorm, no biases)
//   attn: rotary on every channel; grouped-query attention when num_key_value_heads < heads
//   mlp(x) = (silu(x W_gate) ∗ (x W_up)) W_down          SwiGLU: hook_post is the product
//   logits = norm(x) lm_headᵀ                            lm_head = embed_tokens when tied
import { tf } from '../backend.js'
import { hookNames } from '../hooks.js'
import { ModelLoadError } from '../model-folder.js'
import { linear, llama3InverseFrequencies, rmsNorm, ropeInverseFrequencies, silu, type Linear } from './layers.js'
import type { DecoderBlock, DecoderSpec } from './model.js'
import { configBoolean, configNumber, configString, configTokenIds, requireDefault, WeightLoader, type WeightSource } from './weights.js'

export function loadLlama(config: Record<string, unknown>, source: WeightSource): DecoderSpec {
  requireDefault(config, 'hidden_act', 'silu')
  requireDefault(config, 'pretraining_tp', 1)
  const d = configNumber(config, 'hidden_size')
  const nHeads = configNumber(config, 'num_attention_heads')
  const nKvHeads = configNumber(config, 'num_key_value_heads', nHeads)
  const headDim = configNumber(config, 'head_dim', d / nHeads)
  const dMlp = configNumber(config, 'intermediate_size')
  const vocab = configNumber(config, 'vocab_size')
  const nLayers = configNumber(config, 'num_hidden_layers')
  const eps = configNumber(config, 'rms_norm_eps', 1e-6)
  if (nHeads % nKvHeads !== 0) {
    throw new ModelLoadError(`num_attention_heads (${nHeads}) must be a multiple of num_key_value_heads (${nKvHeads})`)
  }

  const weights = new WeightLoader(source, 'model.')
  const norm = (prefix: string) => rmsNorm(weights.vector(`${prefix}.weight`, d), eps)
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
  const unembed: Linear = configBoolean(config, 'tie_word_embeddings', false)
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
      maxPositions: configNumber(config, 'max_position_embeddings'),
      bosId: configTokenIds(config, 'bos_token_id')[0] ?? null,
      eosIds: configTokenIds(config, 'eos_token_id'),
    },
    parallelResidual: false,
    hasPosEmbed: false,
    embed: (ids, _positions, hook) => hook(hookNames.embed, tf.gather(embedTokens, ids)),
    rotaryInvFreq: rotaryFrequencies(config, headDim),
    blocks,
    lnFinal,
    unembed,
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

/** Default rotary frequencies, rescaled when rope_scaling asks for Llama 3's scheme. */
function rotaryFrequencies(config: Record<string, unknown>, headDim: number): Float32Array {
  const base = ropeInverseFrequencies(configNumber(config, 'rope_theta', 10000), headDim)
  const scaling = config['rope_scaling']
  if (scaling === undefined || scaling === null) return base
  const s = scaling as Record<string, unknown>
  const type = configString(s, 'rope_type', configString(s, 'type', 'default'))
  if (type === 'default') return base
  if (type !== 'llama3') throw new ModelLoadError(`rope_scaling type "${type}" is not supported (default, llama3)`)
  return llama3InverseFrequencies(base, {
    factor: configNumber(s, 'factor'),
    lowFreqFactor: configNumber(s, 'low_freq_factor'),
    highFreqFactor: configNumber(s, 'high_freq_factor'),
    originalMaxPositions: configNumber(s, 'original_max_position_embeddings'),
  })
}
