// A one-hidden-layer perceptron on the flattened image:
//   logits = ReLU(x W1 + b1) W2 + b2,   W1 [H·W·C, hidden], W2 [hidden, K]
// hidden = 100 by default (the width the privacy-certification experiments use).
// Parameters: fc1.weight, fc1.bias, fc2.weight, fc2.bias.
import { z } from 'zod'
import { tf } from '../backend.js'
import { linear } from '../ops.js'
import {
  flattenImages,
  initLinear,
  linearOf,
  linearParamCount,
  nextSeed,
  type Classifier,
  type ClassifierModule,
  type ImageShape,
} from './classifier.js'

export const mlpSchema = z
  .object({
    hidden: z.number().int().min(1).max(8192).default(100),
  })
  .strict()
export type MlpConfig = z.infer<typeof mlpSchema>

export function createMlp(config: MlpConfig, shape: ImageShape): Classifier {
  const inDim = shape.height * shape.width * shape.channels
  const { hidden } = config
  return {
    kind: 'mlp',
    shape,
    init: (seed) => ({
      weights: { ...initLinear('fc1', inDim, hidden, seed), ...initLinear('fc2', hidden, shape.classes, nextSeed(seed, 2)) },
      buffers: {},
    }),
    forward: (params, images) => {
      const h = tf.relu(linear(flattenImages(images), linearOf(params.weights, 'fc1')))
      return linear(h, linearOf(params.weights, 'fc2')) as tf.Tensor2D
    },
    paramCount: () => linearParamCount(inDim, hidden) + linearParamCount(hidden, shape.classes),
  }
}

export const mlpModule: ClassifierModule<typeof mlpSchema> = {
  kind: 'mlp',
  title: 'MLP, one hidden ReLU layer',
  schema: mlpSchema,
  create: createMlp,
}
