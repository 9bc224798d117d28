// The MLP of a GPT-2 pre-trained with μMoE layers (src/engine/train; config.json "mlp_kind":
// "cpmoe" or "trmoe"): two μMoE layers d → 4d → d sharing one gate, with gelu_new between, the
// same maths as src/engine/layers/mumoe.ts but on loaded (not trainable) tensors:
//   a  = entmax15(LayerNorm_noaffine(x G))
//   CP:  y = ((a U1) ∗ ([z; 1] U2)) U3t
//   TR:  y = vec((a G1) · ([z; 1] G2)) G3      (per row: [r1×r2]·[r2×r3], then the ring closed)
// The gate a is reported through blocks.L.mlp.hook_gate.
// Tensor names (under transformer.h.<l>.mlp.): gate.G [d, N]; first./second. U1 [N, R],
// U2 [I+1, R], U3t [R, O] (CP) or G1 [N, r1, r2], G2 [I+1, r2, r3], G3 [r1, r3, O] (TR).
import { tf } from '../backend.js'
import type { ValidConfig } from '../architectures.js'
import { entmax15 } from '../layers/entmax.js'
import { geluNew } from './layers.js'
import type { Mlp } from './model.js'
import type { WeightLoader } from './weights.js'

type Layer = (z: tf.Tensor2D, a: tf.Tensor2D) => tf.Tensor2D

const withOnes = (z: tf.Tensor2D): tf.Tensor2D => tf.concat([z, tf.ones([z.shape[0], 1])], 1)

/** The MLP of block `prefix` ("h.3.mlp") for a μMoE GPT-2; `kind` is config.json's mlp_kind. */
export function loadMuMoEMlp(config: ValidConfig, weights: WeightLoader, prefix: string, d: number, hidden: number): Mlp {
  const kind = config.string('mlp_kind')
  const nExperts = config.number('n_experts')
  const eps = config.number('layer_norm_epsilon')
  const G = weights.matrix(`${prefix}.gate.G`, d, nExperts)

  const layer = (name: string, inDim: number, outDim: number): Layer => {
    if (kind === 'cpmoe') {
      const rank = config.number('rank')
      const U1 = weights.matrix(`${prefix}.${name}.U1`, nExperts, rank)
      const U2 = weights.matrix(`${prefix}.${name}.U2`, inDim + 1, rank)
      const U3t = weights.matrix(`${prefix}.${name}.U3t`, rank, outDim)
      return (z, a) => tf.matMul(tf.mul(tf.matMul(a, U1), tf.matMul(withOnes(z), U2)), U3t)
    }
    const [r1, r2, r3] = config.value('tr_ranks') as [number, number, number]
    // Stored as 3-way cores; kept as the matrices the products below use.
    const core = (core: string, shape: number[], rows: number, cols: number): tf.Tensor2D =>
      weights.transform(weights.read(`${prefix}.${name}.${core}`, shape), (t) => tf.reshape(t, [rows, cols]) as tf.Tensor2D)
    const G1 = core('G1', [nExperts, r1, r2], nExperts, r1 * r2)
    const G2 = core('G2', [inDim + 1, r2, r3], inDim + 1, r2 * r3)
    const G3 = core('G3', [r1, r3, outDim], r1 * r3, outDim)
    return (z, a) => {
      const rows = z.shape[0]
      const A = tf.reshape(tf.matMul(a, G1), [rows, r1, r2]) as tf.Tensor3D
      const B = tf.reshape(tf.matMul(withOnes(z), G2), [rows, r2, r3]) as tf.Tensor3D
      return tf.matMul(tf.reshape(tf.matMul(A, B), [rows, r1 * r3]) as tf.Tensor2D, G3)
    }
  }
  const first = layer('first', d, hidden)
  const second = layer('second', hidden, d)

  return (x, post, gate) => {
    const lead = x.shape.slice(0, -1)
    const rows = tf.reshape(x, [-1, d]) as tf.Tensor2D
    const logits = tf.matMul(rows, G)
    const centred = tf.sub(logits, tf.mean(logits, -1, true))
    const weights = entmax15(tf.mul(centred, tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), eps))))
    // mlp.hook_gate sees (and may replace) the gate as [...lead, n_experts].
    const a = tf.reshape(gate(tf.reshape(weights, [...lead, nExperts])), [-1, nExperts]) as tf.Tensor2D
    const act = post(tf.reshape(geluNew(first(rows, a)), [...lead, hidden]))
    return tf.reshape(second(tf.reshape(act, [-1, hidden]) as tf.Tensor2D, a), [...lead, d])
  }
}
