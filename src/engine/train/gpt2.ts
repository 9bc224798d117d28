// A trainable GPT-2: the architecture of the engine's models/gpt2.ts (pre-LN blocks, learned
// positions, gelu_new, lm_head tied to wte), with its parameters as tf.Variables named and laid
// out exactly as Hugging Face's GPT2LMHeadModel state dict (Conv1D weights [in, out]), so a
// save is a model folder that both the engine and transformers load.
//
//   x = wte[ids] + wpe[pos]
//   per block:  x = x + c_proj(attn(c_attn(ln_1(x))));  x = x + mlp(ln_2(x))
//   logits = ln_f(x) wteᵀ
//
// The MLP is pluggable: dense (c_fc → gelu_new → c_proj), or two μMoE layers sharing one gate
// (CPμMoE / TRμMoE from layers/mumoe.ts).
import { tf } from '../backend.js'
import { MuMoE, type TRRanks } from '../layers/mumoe.js'
import { causalAttention, causalBias, crossEntropy, embed, geluNew, layerNorm, linear, matmul } from './ops.js'

export type MlpConfig =
  | { kind: 'dense' }
  | { kind: 'cpmoe'; nExperts: number; rank: number }
  | { kind: 'trmoe'; nExperts: number; ranks: TRRanks }

export interface Gpt2Config {
  vocabSize: number
  /** Context length (learned position table size). */
  nPositions: number
  nLayer: number
  nHead: number
  nEmbd: number
  mlp: MlpConfig
  layerNormEps: number
}

/** Name prefix of every transformer weight, as GPT2LMHeadModel.state_dict() has it. */
const T = 'transformer.'

interface Block {
  ln1: [tf.Variable, tf.Variable]
  attn: { w: tf.Variable; b: tf.Variable }
  proj: { w: tf.Variable; b: tf.Variable }
  ln2: [tf.Variable, tf.Variable]
  mlp: { kind: 'dense'; fc: { w: tf.Variable; b: tf.Variable }; proj: { w: tf.Variable; b: tf.Variable } } | { kind: 'moe'; moe: MuMoE }
}

export class TrainableGpt2 {
  /** Every trainable parameter by its Hugging Face name. */
  readonly params: Record<string, tf.Variable> = {}
  private readonly blocks: Block[] = []
  private readonly wte: tf.Variable
  private readonly wpe: tf.Variable
  private readonly lnf: [tf.Variable, tf.Variable]
  private readonly biasCache = new Map<number, tf.Tensor4D>()

  /**
   * A freshly initialised model, as GPT-2 / nanoGPT: weights N(0, 0.02), residual projections
   * (c_proj) N(0, 0.02/√(2·n_layer)) so the residual stream's variance does not grow with depth,
   * biases 0, LayerNorm gains 1. Deterministic for a given seed.
   */
  constructor(
    readonly config: Gpt2Config,
    seed: number,
  ) {
    const { vocabSize: V, nPositions: P, nEmbd: d, nLayer } = config
    let s = seed * 1000
    const normal = (name: string, shape: number[], std: number): tf.Variable =>
      this.add(name, tf.tidy(() => tf.randomNormal(shape, 0, std, 'float32', s++)))
    const constant = (name: string, shape: number[], value: number): tf.Variable => this.add(name, tf.fill(shape, value))
    const projStd = 0.02 / Math.sqrt(2 * nLayer)
    this.wte = normal(`${T}wte.weight`, [V, d], 0.02)
    this.wpe = normal(`${T}wpe.weight`, [P, d], 0.02)
    for (let l = 0; l < nLayer; l++) {
      const h = `${T}h.${l}.`
      const ln = (name: string): [tf.Variable, tf.Variable] => [constant(`${h}${name}.weight`, [d], 1), constant(`${h}${name}.bias`, [d], 0)]
      const conv = (name: string, inDim: number, outDim: number, std: number) => ({
        w: normal(`${h}${name}.weight`, [inDim, outDim], std),
        b: constant(`${h}${name}.bias`, [outDim], 0),
      })
      const ln1 = ln('ln_1')
      const attn = conv('attn.c_attn', d, 3 * d, 0.02)
      const proj = conv('attn.c_proj', d, d, projStd)
      const ln2 = ln('ln_2')
      let mlp: Block['mlp']
      if (config.mlp.kind === 'dense') {
        mlp = { kind: 'dense', fc: conv('mlp.c_fc', d, 4 * d, 0.02), proj: conv('mlp.c_proj', 4 * d, d, projStd) }
      } else {
        const moe = new MuMoE({
          kind: config.mlp.kind === 'cpmoe' ? 'cp' : 'tr',
          inputDim: d,
          outputDim: 4 * d,
          secondDim: d,
          nExperts: config.mlp.nExperts,
          rank: config.mlp.kind === 'cpmoe' ? config.mlp.rank : config.mlp.ranks,
          norm: 'layernorm',
          activation: 'gelu_new',
          seed: s,
        })
        s += 100
        for (const [name, v] of Object.entries(moe.variables())) this.params[`${h}mlp.${name}`] = v
        mlp = { kind: 'moe', moe }
      }
      this.blocks.push({ ln1, attn, proj, ln2, mlp })
    }
    this.lnf = [constant(`${T}ln_f.weight`, [d], 1), constant(`${T}ln_f.bias`, [d], 0)]
  }

  private add(name: string, value: tf.Tensor): tf.Variable {
    const v = tf.variable(value, true)
    value.dispose()
    this.params[name] = v
    return v
  }

  /** Names of the parameters that get weight decay: matrices (and μMoE factors), not biases, gains or embeddings' ... */
  decayed(name: string): boolean {
    return (this.params[name]?.rank ?? 0) >= 2
  }

  paramCount(): number {
    return Object.values(this.params).reduce((n, v) => n + v.size, 0)
  }

  /** Overwrites parameters with stored values (a saved model or a checkpoint), checking shapes. */
  load(values: Record<string, { shape: number[]; data: Float32Array }>): void {
    for (const [name, v] of Object.entries(this.params)) {
      const t = values[name]
      if (!t) throw new Error(`no stored value for parameter "${name}"`)
      if (t.shape.length !== v.shape.length || t.shape.some((n, i) => n !== v.shape[i])) {
        throw new Error(`parameter "${name}" is [${v.shape.join(', ')}] but the stored one is [${t.shape.join(', ')}]`)
      }
      tf.tidy(() => v.assign(tf.tensor(t.data, v.shape, 'float32')))
    }
  }

  /** logits [batch·time, vocab] for ids [batch·time] (row-major [batch, time]). */
  logits(ids: Int32Array, batch: number, time: number): tf.Tensor2D {
    const { nEmbd: d, nHead, layerNormEps: eps } = this.config
    if (time > this.config.nPositions) throw new Error(`${time} positions exceed the context of ${this.config.nPositions}`)
    const rows = batch * time
    let x = tf.reshape(embed(this.wte as tf.Tensor2D, this.wpe as tf.Tensor2D, ids, batch, time), [rows, d]) as tf.Tensor2D
    const bias = this.causalBias(time)
    for (const b of this.blocks) {
      const h1 = layerNorm(x, b.ln1[0] as tf.Tensor1D, b.ln1[1] as tf.Tensor1D, eps)
      const qkv = tf.reshape(linear(h1, b.attn.w as tf.Tensor2D, b.attn.b as tf.Tensor1D), [batch, time, 3 * d]) as tf.Tensor3D
      const heads = tf.reshape(causalAttention(qkv, nHead, bias), [rows, d]) as tf.Tensor2D
      x = tf.add(x, linear(heads, b.proj.w as tf.Tensor2D, b.proj.b as tf.Tensor1D))
      const h2 = layerNorm(x, b.ln2[0] as tf.Tensor1D, b.ln2[1] as tf.Tensor1D, eps)
      x = tf.add(x, this.mlp(b, h2))
    }
    const final = layerNorm(x, this.lnf[0] as tf.Tensor1D, this.lnf[1] as tf.Tensor1D, eps)
    // Tied unembedding: logits = ln_f(x) wteᵀ (the transpose is explicit; its gradient is too).
    return matmul(final, tf.transpose(this.wte) as tf.Tensor2D)
  }

  private mlp(b: Block, x: tf.Tensor2D): tf.Tensor2D {
    const m = b.mlp
    if (m.kind === 'moe') return m.moe.forward(x) as tf.Tensor2D
    const hidden = geluNew(linear(x, m.fc.w as tf.Tensor2D, m.fc.b as tf.Tensor1D))
    return linear(hidden, m.proj.w as tf.Tensor2D, m.proj.b as tf.Tensor1D)
  }

  /** Mean next-token cross-entropy (nats) of ids against targets, both [batch·time]. */
  loss(ids: Int32Array, targets: Int32Array, batch: number, time: number): tf.Scalar {
    return crossEntropy(this.logits(ids, batch, time), targets)
  }

  private causalBias(time: number): tf.Tensor4D {
    let bias = this.biasCache.get(time)
    if (!bias) {
      bias = tf.keep(causalBias(time))
      this.biasCache.set(time, bias)
    }
    return bias
  }

  dispose(): void {
    for (const b of this.blocks) if (b.mlp.kind === 'moe') b.mlp.moe.dispose()
    tf.dispose(Object.values(this.params))
    for (const b of this.biasCache.values()) b.dispose()
  }
}
