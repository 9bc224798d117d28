// How a model stands on the sets test-time privacy is about: its confidence on the protected set
// D_f (confidence distance, accuracy, the histogram of its max probabilities), and its accuracy
// and loss on the rest of the training data D_r and on the test split. Always the deployed model:
// eval mode, temperature 1 (the temperature is part of the fine-tuning objective only).
import type { ConfidenceSummary, ModelReport } from '../../shared/privacy.js'
import { tf } from '../backend.js'
import type { Classifier, ClassifierParams } from '../classifiers/classifier.js'
import { accuracyOf, predictLogits } from '../classifiers/rows.js'
import { confidenceDistance, maxOfRow, retainLoss, softmaxRows } from './objective.js'
import type { LabelledRows, PrivacySets } from './types.js'

/** Bins of the max-probability histogram over [1/K, 1]. */
export const HISTOGRAM_BINS = 20

/** The summary from probabilities [n × K] row-major and the labels. */
export function summariseProbabilities(probabilities: Float32Array, labels: ArrayLike<number>, classes: number): ConfidenceSummary {
  const lo = 1 / classes
  const width = (1 - lo) / HISTOGRAM_BINS
  const edges = Array.from({ length: HISTOGRAM_BINS + 1 }, (_, b) => (b === HISTOGRAM_BINS ? 1 : lo + b * width))
  const counts = new Array<number>(HISTOGRAM_BINS).fill(0)
  for (let i = 0; i < labels.length; i++) {
    // A max probability is ≥ 1/K up to float rounding, and 1 falls in the last bin (closed on the right).
    const bin = Math.floor((maxOfRow(probabilities, i, classes) - lo) / width)
    counts[Math.min(HISTOGRAM_BINS - 1, Math.max(0, bin))]!++
  }
  return {
    images: labels.length,
    distance: confidenceDistance(probabilities, classes),
    accuracy: accuracyOf(probabilities, labels, classes),
    histogram: { edges, counts },
  }
}

/** Confidence distance, accuracy and max-probability histogram of the model on `rows`. */
export function confidenceSummary(model: Classifier, params: ClassifierParams, rows: LabelledRows): ConfidenceSummary {
  const k = model.shape.classes
  return summariseProbabilities(softmaxRows(predictLogits(model, params, rows), k), rows.labels, k)
}

/** Mean cross-entropy of [n × K] logits against the labels (0 for an empty set). */
export function meanCrossEntropy(logits: Float32Array, labels: Uint8Array, classes: number): number {
  const loss = tf.tidy(() => retainLoss(tf.tensor2d(logits, [labels.length, classes]), Int32Array.from(labels)))
  const value = loss.dataSync()[0]!
  loss.dispose()
  return value
}

/** The model on D_f (confidence summary), on D_r (accuracy, mean cross-entropy) and on the test split (accuracy). */
export function modelReport(model: Classifier, params: ClassifierParams, sets: PrivacySets, test: LabelledRows): ModelReport {
  const k = model.shape.classes
  const retainLogits = predictLogits(model, params, sets.retain)
  return {
    forget: confidenceSummary(model, params, sets.forget),
    retainAccuracy: accuracyOf(retainLogits, sets.retain.labels, k),
    retainLoss: meanCrossEntropy(retainLogits, sets.retain.labels, k),
    testAccuracy: accuracyOf(predictLogits(model, params, test), test.labels, k),
  }
}
