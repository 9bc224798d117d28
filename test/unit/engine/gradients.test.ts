// Every process gets tfjs's gradients only because src/engine/backend.ts imports @tensorflow/tfjs
// (the product code registers none of its own): this checks that wiring, so dropping the import
// fails here rather than at the first training step. Whether tfjs's gradients are right is tfjs's
// business; the layers' own gradients are checked in test/unit/layers/.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'

beforeAll(async () => {
  await initBackend()
})

describe('gradients', () => {
  it('registers gradients for the kernels a transformer trains through', () => {
    // (tfjs has none for TopK: sparse layers pass gradients through the selected positions themselves.)
    for (const kernel of ['BatchMatMul', 'GatherV2', 'Softmax', 'Slice', 'Concat', 'Max', 'Sigmoid', 'Tanh', 'Erf', 'Rsqrt', 'Mean', 'Sum', 'Transpose', 'Reshape']) {
      expect(tf.getGradient(kernel), kernel).toBeDefined()
    }
  })
})
