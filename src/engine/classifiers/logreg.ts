// Multinomial logistic regression: logits = x W + b on the flattened image x ∈ R^{H·W·C},
// W [H·W·C, K]. With the cross-entropy loss (train.ts) this is softmax regression, the linear
// baseline every other classifier is compared with.
// Parameters: head.weight [D, K], head.bias [K].
import { z } from 'zod'
import { linear } from '../ops.js'
import { flattenImages, initLinear, linearOf, linearParamCount, type Classifier, type ClassifierModule, type ImageShape } from './classifier.js'

export const logregSchema = z.object({}).strict()
export type LogregConfig = z.infer<typeof logregSchema>

export function createLogreg(_config: LogregConfig, shape: ImageShape): Classifier {
  const inDim = shape.height * shape.width * shape.channels
  return {
    kind: 'logreg',
    shape,
    init: (seed) => ({ weights: initLinear('head', inDim, shape.classes, seed), buffers: {} }),
    forward: (params, images) => linear(flattenImages(images), linearOf(params.weights, 'head')) as ReturnType<Classifier['forward']>,
    paramCount: () => linearParamCount(inDim, shape.classes),
  }
}

export const logregModule: ClassifierModule<typeof logregSchema> = {
  kind: 'logreg',
  title: 'Multinomial logistic regression (softmax on the pixels)',
  schema: logregSchema,
  create: createLogreg,
}
