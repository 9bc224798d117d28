// A trainable GPT-2: the engine's GPT-2 (models/gpt2.ts, the one definition of its maths) run on
// tf.Variables named and laid out exactly as Hugging Face's GPT2LMHeadModel state dict (Conv1D
// weights [in, out]), so a save is a model folder that both the engine and transformers load,
// and the engine computes the same logits from it as this class does.
//
// What lives here is only what training adds: the initialisation, the parameter set and its
// weight-decay split, and the loss. The MLP is dense (c_fc → gelu_new → c_proj), or two μMoE
// layers sharing one gate (CPμMoE / TRμMoE from layers/mumoe.ts).
import { tf } from '../backend.js'
import { MuMoE, type TRRanks } from '../layers/mumoe.js'
import { gpt2Spec, type Gpt2Mlp } from '../models/gpt2.js'
import { trainingLogits, type DecoderSpec } from '../models/model.js'
import { crossEntropy } from '../ops.js'

export type MlpConfig = Gpt2Mlp
export type { TRRanks }

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

export class TrainableGpt2 {
  /** Every trainable parameter by its Hugging Face name. */
  readonly params: Record<string, tf.Variable> = {}
  /** The engine's GPT-2 on these variables. */
  readonly spec: DecoderSpec
  private readonly moes: MuMoE[] = []

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
    normal(`${T}wte.weight`, [V, d], 0.02)
    normal(`${T}wpe.weight`, [P, d], 0.02)
    for (let l = 0; l < nLayer; l++) {
      const h = `${T}h.${l}.`
      const ln = (name: string): void => {
        constant(`${h}${name}.weight`, [d], 1)
        constant(`${h}${name}.bias`, [d], 0)
      }
      const conv = (name: string, inDim: number, outDim: number, std: number): void => {
        normal(`${h}${name}.weight`, [inDim, outDim], std)
        constant(`${h}${name}.bias`, [outDim], 0)
      }
      ln('ln_1')
      conv('attn.c_attn', d, 3 * d, 0.02)
      conv('attn.c_proj', d, d, projStd)
      ln('ln_2')
      if (config.mlp.kind === 'dense') {
        conv('mlp.c_fc', d, 4 * d, 0.02)
        conv('mlp.c_proj', 4 * d, d, projStd)
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
        // The μMoE module only initialises the factors: the forward is the engine's.
        for (const [name, v] of Object.entries(moe.variables())) this.params[`${h}mlp.${name}`] = v
        this.moes.push(moe)
      }
    }
    constant(`${T}ln_f.weight`, [d], 1)
    constant(`${T}ln_f.bias`, [d], 0)
    this.spec = gpt2Spec(
      { nLayers: nLayer, dModel: d, nHeads: config.nHead, dMlp: 4 * d, vocabSize: V, maxPositions: P, layerNormEps: config.layerNormEps, mlp: config.mlp },
      (name, shape) => this.param(`${T}${name}`, shape),
      // Tied unembedding, transposed on every forward so its gradient reaches wte.
      () => null,
      { config: {}, bosId: null, eosIds: [], tensors: [] },
    )
  }

  private param(name: string, shape: number[]): tf.Variable {
    const v = this.params[name]
    if (!v || v.shape.length !== shape.length || v.shape.some((n, i) => n !== shape[i])) {
      throw new Error(`the trainable GPT-2 has no parameter "${name}" of shape [${shape.join(', ')}]`)
    }
    return v
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
    return trainingLogits(this.spec, { data: ids, batch, time })
  }

  /** Mean next-token cross-entropy (nats) of ids against targets, both [batch·time]. */
  loss(ids: Int32Array, targets: Int32Array, batch: number, time: number): tf.Scalar {
    return crossEntropy(this.logits(ids, batch, time), targets)
  }

  dispose(): void {
    for (const moe of this.moes) moe.dispose()
    tf.dispose(Object.values(this.params))
  }
}
