// Every process gets tfjs's own gradients through src/engine/backend.ts; a hand computation
// checks one, and the registry must hold the kernels training needs.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'

beforeAll(async () => {
  await initBackend()
})

describe('gradients', () => {
  it('d/dA sum(A·A) = (A + Aᵀ)-weighted sums, as computed by hand', async () => {
    // f(A) = Σ_ij (A A)_ij; ∂f/∂A_kl = Σ_j A_lj + Σ_i A_ik  →  for A = [[1,2],[3,4]]: [[7,11],[9,13]]
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.matMul(a, a)))(tf.tensor2d([[1, 2], [3, 4]]))
    expect(await g.array()).toEqual([
      [7, 11],
      [9, 13],
    ])
  })

  it('registers gradients for the kernels a transformer trains through', () => {
    // (tfjs has none for TopK: sparse layers pass gradients through the selected positions themselves.)
    for (const kernel of ['BatchMatMul', 'GatherV2', 'Softmax', 'Slice', 'Concat', 'Max', 'Sigmoid', 'Tanh', 'Erf', 'Rsqrt', 'Mean', 'Sum', 'Transpose', 'Reshape']) {
      expect(tf.getGradient(kernel), kernel).toBeDefined()
    }
  })
})
