// A GPT-2-small-shaped model in our engine with random weights, built through the real GPT-2
// loader (src/engine/models/gpt2.ts) from an in-memory weight source, so the benchmark runs
// exactly the code a model folder would, without writing 500 MB of safetensors first.
import { initBackend } from '../../src/engine/backend.js'
import { validateConfig } from '../../src/engine/architectures.js'
import { loadGpt2 } from '../../src/engine/models/gpt2.js'
import { Decoder, type LanguageModel } from '../../src/engine/models/model.js'
import type { WeightSource } from '../../src/engine/models/weights.js'
import { mulberry32, type BenchShape } from './shape.js'

/** The tensor names and shapes of a Hugging Face GPT2LMHeadModel checkpoint (tied lm_head). */
function gpt2Tensors(s: BenchShape): Map<string, number[]> {
  const d = s.dModel
  const shapes = new Map<string, number[]>([
    ['transformer.wte.weight', [s.vocab, d]],
    ['transformer.wpe.weight', [s.nPositions, d]],
    ['transformer.ln_f.weight', [d]],
    ['transformer.ln_f.bias', [d]],
  ])
  for (let l = 0; l < s.nLayers; l++) {
    const h = `transformer.h.${l}`
    for (const ln of ['ln_1', 'ln_2']) {
      shapes.set(`${h}.${ln}.weight`, [d])
      shapes.set(`${h}.${ln}.bias`, [d])
    }
    const conv1d: [string, number, number][] = [
      ['attn.c_attn', d, 3 * d],
      ['attn.c_proj', d, d],
      ['mlp.c_fc', d, 4 * d],
      ['mlp.c_proj', 4 * d, d],
    ]
    for (const [name, inDim, outDim] of conv1d) {
      shapes.set(`${h}.${name}.weight`, [inDim, outDim])
      shapes.set(`${h}.${name}.bias`, [outDim])
    }
  }
  return shapes
}

/**
 * Weights drawn on demand (GPT-2's init: N(0, 0.02²) matrices, LayerNorm weight 1, bias 0), so no
 * second copy of the model is held in JS memory while the engine uploads it.
 */
function randomGpt2Source(s: BenchShape, seed = 42): WeightSource {
  const shapes = gpt2Tensors(s)
  const rand = mulberry32(seed)
  return {
    has: (name) => shapes.has(name),
    info: (name) => ({ shape: shapes.get(name) as number[] }),
    readFloat32: (name) => {
      const shape = shapes.get(name) as number[]
      const out = new Float32Array(shape.reduce((a, b) => a * b, 1))
      if (/\.ln_\w+\.weight$/.test(name)) return out.fill(1)
      if (shape.length === 1) return out
      for (let i = 0; i < out.length; i += 2) {
        // Box–Muller: two normals per pair of uniforms.
        const r = 0.02 * Math.sqrt(-2 * Math.log(1 - rand()))
        const theta = 2 * Math.PI * rand()
        out[i] = r * Math.cos(theta)
        if (i + 1 < out.length) out[i + 1] = r * Math.sin(theta)
      }
      return out
    },
  }
}

export function gpt2Config(s: BenchShape): Record<string, unknown> {
  return {
    model_type: 'gpt2',
    n_layer: s.nLayers,
    n_embd: s.dModel,
    n_head: s.nHeads,
    vocab_size: s.vocab,
    n_positions: s.nPositions,
    layer_norm_epsilon: 1e-5,
    activation_function: 'gelu_new',
    bos_token_id: 50256,
    eos_token_id: 50256,
  }
}

/** Initialises the backend and builds the model; dispose() frees its weights. */
export async function randomGpt2(s: BenchShape): Promise<LanguageModel> {
  await initBackend()
  const spec = loadGpt2(validateConfig('gpt2', gpt2Config(s), 'the benchmark\'s GPT-2 config'), randomGpt2Source(s))
  return new Decoder(spec, () => {
    for (const t of spec.tensors) t.dispose()
  })
}
