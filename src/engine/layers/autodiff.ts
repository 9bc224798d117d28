// Gradients for the tfjs-core kernels the trainable layers differentiate through.
//
// Why this file exists: @tensorflow/tfjs-core registers no gradients by itself. Its gradient
// configs ship only as extensionless ESM files (dist/register_all_gradients.js) that Node and tsx
// cannot load; the union package @tensorflow/tfjs, which bundles them, is not a dependency. So
// tf.grad / tf.variableGrads fail with "gradient function not found for Sum" unless someone
// registers them. This module registers, for a small set of kernels, the standard derivatives,
// each only where no gradient is registered yet (a later full registration is left in charge).
// Every gradient is checked against finite differences by the μMoE/entmax tests.
import { tf } from '../backend.js'

type Saved = tf.Tensor[]
type Attrs = tf.NamedAttrMap

/** Sums a broadcast gradient back down to the shape of the input it flowed from. */
function unbroadcast(g: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.broadcast_util.getReductionAxes(shape, g.shape)
  return tf.reshape(axes.length > 0 ? tf.sum(g, axes) : g, shape)
}

/** dy of a reduction (keepDims or not) expanded back to the input's shape. */
function expandReduced(dy: tf.Tensor, x: tf.Tensor, axis: number | number[]): { dy: tf.Tensor; count: number } {
  const axes = tf.util.parseAxisParam(axis, x.shape)
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
  const count = axes.reduce((n, a) => n * (x.shape[a] as number), 1)
  return { dy: tf.mul(tf.reshape(dy, kept), tf.ones(x.shape)), count }
}

const first = (s: Saved): tf.Tensor => s[0] as tf.Tensor
const pair = (s: Saved): [tf.Tensor, tf.Tensor] => [s[0] as tf.Tensor, s[1] as tf.Tensor]
const one = (dy: tf.Tensor | tf.Tensor[]): tf.Tensor => dy as tf.Tensor

const configs: tf.GradConfig[] = [
  // Elementwise binary ops, with broadcasting.
  {
    kernelName: tf.Add,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, s) => ({ a: () => unbroadcast(one(dy), pair(s)[0].shape), b: () => unbroadcast(one(dy), pair(s)[1].shape) }),
  },
  {
    kernelName: tf.Sub,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, s) => ({
      a: () => unbroadcast(one(dy), pair(s)[0].shape),
      b: () => unbroadcast(tf.neg(one(dy)), pair(s)[1].shape),
    }),
  },
  {
    kernelName: tf.Multiply,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, s) => {
      const [a, b] = pair(s)
      return { a: () => unbroadcast(tf.mul(one(dy), b), a.shape), b: () => unbroadcast(tf.mul(one(dy), a), b.shape) }
    },
  },
  {
    // d(a/b) = da/b − a db/b²
    kernelName: tf.RealDiv,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, s) => {
      const [a, b] = pair(s)
      return {
        a: () => unbroadcast(tf.div(one(dy), b), a.shape),
        b: () => unbroadcast(tf.neg(tf.div(tf.mul(one(dy), a), tf.square(b))), b.shape),
      }
    },
  },
  {
    // d(aᵇ) = b aᵇ⁻¹ da + aᵇ log(a) db   (log taken only where a > 0, as tfjs)
    kernelName: tf.Pow,
    inputsToSave: ['a', 'b'],
    outputsToSave: [true],
    gradFunc: (dy, s) => {
      const [a, b, y] = [s[0] as tf.Tensor, s[1] as tf.Tensor, s[2] as tf.Tensor]
      return {
        a: () => unbroadcast(tf.mul(one(dy), tf.mul(b, tf.pow(a, tf.sub(b, tf.scalar(1, b.dtype))))), a.shape),
        b: () => {
          const logA = tf.where(tf.greater(a, 0), tf.log(a), tf.zerosLike(a))
          return unbroadcast(tf.mul(one(dy), tf.mul(y, logA)), b.shape)
        },
      }
    },
  },
  // Elementwise unary ops.
  { kernelName: tf.Neg, gradFunc: (dy) => ({ x: () => tf.neg(one(dy)) }) },
  { kernelName: tf.Square, inputsToSave: ['x'], gradFunc: (dy, s) => ({ x: () => tf.mul(one(dy), tf.mul(first(s), 2)) }) },
  {
    // d x^(−1/2) = −½ x^(−3/2) dx
    kernelName: tf.Rsqrt,
    inputsToSave: ['x'],
    gradFunc: (dy, s) => ({ x: () => tf.div(one(dy), tf.mul(tf.pow(first(s), 1.5), -2)) }),
  },
  {
    // d tanh = (1 − tanh²) dx
    kernelName: tf.Tanh,
    outputsToSave: [true],
    gradFunc: (dy, s) => ({ x: () => tf.mul(one(dy), tf.sub(1, tf.square(first(s)))) }),
  },
  {
    // d σ = σ (1 − σ) dx
    kernelName: tf.Sigmoid,
    outputsToSave: [true],
    gradFunc: (dy, s) => ({ x: () => tf.mul(one(dy), tf.mul(first(s), tf.sub(1, first(s)))) }),
  },
  { kernelName: tf.Exp, outputsToSave: [true], gradFunc: (dy, s) => ({ x: () => tf.mul(one(dy), first(s)) }) },
  { kernelName: tf.Log, inputsToSave: ['x'], gradFunc: (dy, s) => ({ x: () => tf.div(one(dy), first(s)) }) },
  { kernelName: tf.Sqrt, outputsToSave: [true], gradFunc: (dy, s) => ({ x: () => tf.div(one(dy), tf.mul(first(s), 2)) }) },
  {
    kernelName: tf.Relu,
    inputsToSave: ['x'],
    gradFunc: (dy, s) => ({ x: () => tf.mul(one(dy), tf.cast(tf.greater(first(s), 0), 'float32')) }),
  },
  {
    // d erf = 2/√π exp(−x²) dx
    kernelName: tf.Erf,
    inputsToSave: ['x'],
    gradFunc: (dy, s) => ({ x: () => tf.mul(one(dy), tf.mul(tf.exp(tf.neg(tf.square(first(s)))), 2 / Math.sqrt(Math.PI))) }),
  },
  // Reductions.
  {
    kernelName: tf.Sum,
    inputsToSave: ['x'],
    gradFunc: (dy, s, attrs: Attrs) => ({ x: () => expandReduced(one(dy), first(s), attrs.axis as number | number[]).dy }),
  },
  {
    kernelName: tf.Mean,
    inputsToSave: ['x'],
    gradFunc: (dy, s, attrs: Attrs) => {
      const { dy: g, count } = expandReduced(one(dy), first(s), attrs.axis as number | number[])
      return { x: () => tf.div(g, count) }
    },
  },
  // Shape ops.
  { kernelName: tf.Reshape, inputsToSave: ['x'], gradFunc: (dy, s) => ({ x: () => tf.reshape(one(dy), first(s).shape) }) },
  {
    // Concat: split dy back into the inputs' extents along the axis.
    kernelName: tf.Concat,
    saveAllInputs: true,
    gradFunc: (dy, s, attrs: Attrs) => {
      const axis = tf.util.parseAxisParam(attrs.axis as number, first(s).shape)[0] as number
      const parts = tf.split(
        one(dy),
        s.map((t) => t.shape[axis] as number),
        axis,
      )
      return Object.fromEntries(parts.map((p, i) => [String(i), () => p]))
    },
  },
  {
    kernelName: tf.Transpose,
    gradFunc: (dy, _s, attrs: Attrs) => {
      const perm = attrs.perm as number[]
      const inverse = perm.map((_, i) => perm.indexOf(i))
      return { x: () => tf.transpose(one(dy), inverse) }
    },
  },
]

for (const config of configs) if (!tf.getGradient(config.kernelName)) tf.registerGradient(config)
