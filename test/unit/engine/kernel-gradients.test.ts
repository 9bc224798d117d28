// The kernel gradients the trainable layers differentiate through (registered by tfjs through
// src/engine/backend.ts), each checked against central finite differences.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { normals, rng } from '../layers/mumoe-reference.js'

beforeAll(async () => {
  await initBackend()
})

type Op = (...xs: tf.Tensor[]) => tf.Tensor
interface Case {
  name: string
  op: Op
  shapes: number[][]
  /** maps a standard normal draw into the op's domain */
  domain?: (v: number) => number
}

const positive = (v: number): number => 0.5 + Math.abs(v)
const cases: Case[] = [
  { name: 'Add (broadcast)', op: (a, b) => tf.add(a!, b!), shapes: [[2, 3], [3]] },
  {
    name: 'Sub (broadcast)',
    op: (a, b) => tf.sub(a!, b!),
    shapes: [
      [2, 3],
      [2, 1],
    ],
  },
  {
    name: 'Multiply (broadcast)',
    op: (a, b) => tf.mul(a!, b!),
    shapes: [
      [2, 3],
      [1, 3],
    ],
  },
  { name: 'RealDiv (broadcast)', op: (a, b) => tf.div(a!, b!), shapes: [[2, 3], [3]], domain: positive },
  { name: 'Pow (both inputs)', op: (a, b) => tf.pow(a!, b!), shapes: [[2, 3], [3]], domain: positive },
  { name: 'Neg', op: (a) => tf.neg(a!), shapes: [[2, 3]] },
  { name: 'Square', op: (a) => tf.square(a!), shapes: [[2, 3]] },
  { name: 'Rsqrt', op: (a) => tf.rsqrt(a!), shapes: [[2, 3]], domain: positive },
  { name: 'Sqrt', op: (a) => tf.sqrt(a!), shapes: [[2, 3]], domain: positive },
  { name: 'Exp', op: (a) => tf.exp(a!), shapes: [[2, 3]] },
  { name: 'Log', op: (a) => tf.log(a!), shapes: [[2, 3]], domain: positive },
  { name: 'Tanh', op: (a) => tf.tanh(a!), shapes: [[2, 3]] },
  { name: 'Sigmoid', op: (a) => tf.sigmoid(a!), shapes: [[2, 3]] },
  { name: 'Erf', op: (a) => tf.erf(a!), shapes: [[2, 3]] },
  // keep inputs away from the kink at 0
  { name: 'Relu', op: (a) => tf.relu(a!), shapes: [[2, 3]], domain: (v) => (v >= 0 ? v + 0.1 : v - 0.1) },
  { name: 'Sum (axis, no keepDims)', op: (a) => tf.sum(a!, 1), shapes: [[2, 3]] },
  { name: 'Sum (all)', op: (a) => tf.sum(a!), shapes: [[2, 3]] },
  { name: 'Mean (axis 0, keepDims)', op: (a) => tf.mean(a!, 0, true), shapes: [[4, 3]] },
  { name: 'Mean (last axis)', op: (a) => tf.mean(a!, -1), shapes: [[2, 3, 2]] },
  { name: 'Reshape', op: (a) => tf.reshape(a!, [3, 2]), shapes: [[2, 3]] },
  {
    name: 'Concat',
    op: (a, b) => tf.concat([a!, b!], 1),
    shapes: [
      [2, 3],
      [2, 2],
    ],
  },
  { name: 'Transpose', op: (a) => tf.transpose(a!, [1, 2, 0]), shapes: [[2, 3, 4]] },
]

describe('registered kernel gradients', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s matches central differences', (_name, c) => {
    const rand = rng(c.name.length * 7919)
    const inputs = c.shapes.map((shape) =>
      normals(
        rand,
        shape.reduce((n, d) => n * d, 1),
      ).map(c.domain ?? ((v) => v)),
    )
    const outSize = tf.tidy(() => c.op(...inputs.map((v, i) => tf.tensor(v, c.shapes[i]))).size)
    const w = normals(rand, outSize)
    // loss = Σ w ∗ op(inputs), in float32 through tf for both the gradient and the differences
    const loss = (xs: number[][]): number =>
      tf.tidy(() => {
        const y = c.op(...xs.map((v, i) => tf.tensor(v, c.shapes[i])))
        return tf.sum(tf.mul(tf.reshape(y, [-1]), tf.tensor1d(w))).dataSync()[0]!
      })
    const grads = tf.tidy(() =>
      tf
        .grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(tf.reshape(c.op(...xs), [-1]), tf.tensor1d(w))))(
          inputs.map((v, i) => tf.tensor(v, c.shapes[i])),
        )
        .map((g) => Array.from(g.dataSync())),
    )
    const h = 1e-2
    inputs.forEach((values, k) =>
      values.forEach((_, j) => {
        const shifted = (d: number): number[][] => inputs.map((v, i) => (i === k ? v.map((x, jj) => (jj === j ? x + d : x)) : v))
        const fd = (loss(shifted(h)) - loss(shifted(-h))) / (2 * h)
        expect(Math.abs(grads[k]![j]! - fd), `input ${k}[${j}]`).toBeLessThan(2e-3 * Math.max(1, Math.abs(fd)))
      }),
    )
  })
})
