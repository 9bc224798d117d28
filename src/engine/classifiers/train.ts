// One training step of an image classifier, and its evaluation-mode prediction. The loss is the
// mean cross-entropy of the logits (ops.crossEntropy, the same op the language-model trainer
// uses); the optimizer is AdamW or SGD with momentum (../optim), applied to params.weights only.
//
// BatchNorm modes are explicit: classifierStep always runs the forward in training mode (batch
// statistics; the running statistics in params.buffers are updated once per step), and
// classifierPredict always in eval mode (running statistics, nothing updated).
import { tf } from '../backend.js'
import { crossEntropy } from '../ops.js'
import { AdamW, type AdamWOptions } from '../optim/adamw.js'
import { SGD, type SgdOptions } from '../optim/sgd.js'
import type { Classifier, ClassifierParams } from './classifier.js'

/** What classifierStep needs of an optimizer (AdamW and SGD both are). */
export interface ClassifierOptimizer {
  applyGradients(grads: Record<string, tf.Tensor>, lr?: number): void
  dispose(): void
}

export type OptimizerConfig = ({ kind: 'adamw' } & AdamWOptions) | ({ kind: 'sgd' } & SgdOptions)

export function makeOptimizer(params: ClassifierParams, config: OptimizerConfig): ClassifierOptimizer {
  return config.kind === 'adamw' ? new AdamW(params.weights, config) : new SGD(params.weights, config)
}

export interface ImageBatch {
  /** [B, H, W, C] */
  images: tf.Tensor4D
  /** Class index per image, 0 … classes−1. */
  labels: Int32Array
}

/**
 * The value of `loss` and its gradient per trainable weight, keyed by the weights' own names
 * (caller disposes). Every weight the loss does not touch is simply absent.
 */
export function weightGrads(params: ClassifierParams, loss: () => tf.Scalar): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const entries = Object.entries(params.weights)
  const { value, grads } = tf.variableGrads(
    loss,
    entries.map(([, v]) => v),
  )
  // variableGrads keys gradients by the variables' internal names; map them back to ours.
  const byName: Record<string, tf.Tensor> = {}
  for (const [name, v] of entries) {
    const g = grads[v.name]
    if (g !== undefined) byName[name] = g
  }
  return { value, grads: byName }
}

/** Mean cross-entropy of a training-mode forward and its gradient per weight (caller disposes). */
export function classifierLossAndGrads(
  model: Classifier,
  params: ClassifierParams,
  batch: ImageBatch,
): { loss: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const { value, grads } = weightGrads(params, () => crossEntropy(model.forward(params, batch.images, { training: true }), batch.labels))
  return { loss: value, grads }
}

/** One optimizer step on one batch; returns the batch's loss (before the step). */
export function classifierStep(model: Classifier, params: ClassifierParams, optimizer: ClassifierOptimizer, batch: ImageBatch, lr?: number): number {
  const { loss, grads } = classifierLossAndGrads(model, params, batch)
  optimizer.applyGradients(grads, lr)
  const value = loss.dataSync()[0]!
  tf.dispose([loss, ...Object.values(grads)])
  return value
}

/** Eval-mode logits [B, classes] (caller disposes). */
export function classifierLogits(model: Classifier, params: ClassifierParams, images: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => model.forward(params, images, { training: false }))
}

/** Eval-mode predicted class per image. */
export function classifierPredict(model: Classifier, params: ClassifierParams, images: tf.Tensor4D): Int32Array {
  const predicted = tf.tidy(() => tf.argMax(model.forward(params, images, { training: false }), -1))
  const out = Int32Array.from(predicted.dataSync())
  predicted.dispose()
  return out
}
