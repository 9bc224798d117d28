// GPT-2 (Hugging Face GPT2LMHeadModel), as in nanoGPT's model.py:
//   x = wte[ids] + wpe[pos]
//   per block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))      (pre-norm, LayerNorm with bias)
//   mlp(x)    = gelu_new(x W_fc + b_fc) W_proj + b_proj           (4·d hidden unless n_inner)
//   logits    = ln_f(x) wteᵀ                                      (lm_head tied to wte)
// GPT-2's linear layers are Conv1D modules whose weights are already [in, out], so nothing is
// transposed except the tied unembedding.
import { tf } from '../backend.js'
import { hookNames } from '../hooks.js'
import { loadMuMoEMlp } from './gpt2-mumoe.js'
import { geluNew, layerNorm, linear, type Linear } from './layers.js'
import type { DecoderBlock, DecoderSpec } from './model.js'
import type { ValidConfig } from '../architectures.js'
import { type WeightSource, WeightLoader } from './weights.js'

/** `valid` has been checked against architectures.ts (activation, scaling flags, sizes). */
export function loadGpt2(valid: ValidConfig, source: WeightSource): DecoderSpec {
  const config = valid.raw
  const { dModel: d, nHeads, dMlp, vocabSize: vocab, maxPositions: nPositions, nLayers } = valid.dims
  const eps = valid.number('layer_norm_epsilon')
  // "mlp_kind" is MxD Studio's own field: GPT-2s pre-trained with μMoE MLPs (src/engine/train).
  const mlpKind = valid.string('mlp_kind')

  const weights = new WeightLoader(source, 'transformer.')
  const conv1d = (prefix: string, inDim: number, outDim: number): Linear => ({
    w: weights.matrix(`${prefix}.weight`, inDim, outDim),
    b: weights.vector(`${prefix}.bias`, outDim),
  })
  const norm = (prefix: string) => layerNorm(weights.vector(`${prefix}.weight`, d), weights.vector(`${prefix}.bias`, d), eps)

  const wte = weights.matrix('wte.weight', vocab, d)
  const wpe = weights.matrix('wpe.weight', nPositions, d)

  const blocks: DecoderBlock[] = []
  for (let l = 0; l < nLayers; l++) {
    const h = `h.${l}`
    const denseMlp = (): DecoderBlock['mlp'] => {
      const fc = conv1d(`${h}.mlp.c_fc`, d, dMlp)
      const proj = conv1d(`${h}.mlp.c_proj`, dMlp, d)
      return (x, post) => linear(post(geluNew(linear(x, fc))), proj)
    }
    blocks.push({
      ln1: norm(`${h}.ln_1`),
      // c_attn's output columns are [q | k | v], each split into heads in order: the fused
      // layout attention() expects.
      attn: { qkv: conv1d(`${h}.attn.c_attn`, d, 3 * d), out: conv1d(`${h}.attn.c_proj`, d, d) },
      ln2: norm(`${h}.ln_2`),
      mlp: mlpKind === 'dense' ? denseMlp() : loadMuMoEMlp(valid, weights, `${h}.mlp`, d, dMlp),
    })
  }
  const lnFinal = norm('ln_f')
  // A separate lm_head (rare for GPT-2) wins over the tie; either way store it as [d, vocab].
  const unembed: Linear = {
    w: weights.has('lm_head.weight')
      ? weights.transform(weights.matrix('lm_head.weight', vocab, d), (t) => tf.transpose(t) as tf.Tensor2D)
      : weights.derive(() => tf.transpose(wte)),
    b: null,
  }

  const eos = valid.tokenIds('eos_token_id')
  return {
    architecture: 'gpt2',
    config,
    dims: {
      nLayers,
      dModel: d,
      nHeads,
      nKvHeads: nHeads,
      headDim: valid.dims.headDim,
      dMlp,
      vocabSize: vocab,
      maxPositions: nPositions,
      bosId: valid.tokenIds('bos_token_id')[0] ?? null,
      eosIds: eos,
    },
    parallelResidual: false,
    hasPosEmbed: true,
    hasMlpGate: mlpKind !== 'dense',
    // Learned absolute positions: the token and position embeddings are summed.
    embed: (ids, positions, hook) => {
      const tokens = hook(hookNames.embed, tf.gather(wte, ids))
      const pos = hook(hookNames.posEmbed, tf.gather(wpe, tf.tensor2d(positions, undefined, 'int32')))
      return tf.add(tokens, pos)
    },
    rotaryInvFreq: null,
    blocks,
    lnFinal,
    unembed,
    tensors: weights.tensors,
  }
}
