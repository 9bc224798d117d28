// The exact curvature of the privacy objective F (types.ts ObjectiveConfig) for the classifier
// kinds the certified path supports, by kind. Adding a kind is one file exporting a
// CurvatureFactory and one line in CURVATURES. Kinds without one (the μMoE mixer: BatchNorm,
// entmax gates) get Pareto fine-tuning, which only needs the forward and autodiff.
import type { Classifier } from '../../classifiers/classifier.js'
import type { LabelledRows, ObjectiveConfig, PrivacySets } from '../types.js'
import { logregCurvature } from './logreg.js'
import { mlpCurvature } from './mlp.js'
import type { Curvature } from './curvature.js'

export type { Curvature } from './curvature.js'

export type CurvatureFactory = (model: Classifier, sets: PrivacySets, objective: ObjectiveConfig) => Curvature

export const CURVATURES: Record<string, CurvatureFactory> = {
  logreg: logregCurvature,
  mlp: mlpCurvature,
}

/** The curvature of F for `model` on `sets`, or an error for a kind the certified path does not support. */
export function curvatureFor(model: Classifier, sets: PrivacySets, objective: ObjectiveConfig): Curvature {
  const factory = Object.hasOwn(CURVATURES, model.kind) ? CURVATURES[model.kind] : undefined
  if (!factory) {
    throw new Error(
      `the certified (Newton step) path supports the ${Object.keys(CURVATURES).join(' and ')} classifiers, not "${model.kind}": ` +
        `choose a ${Object.keys(CURVATURES).join(' or ')} model, or use Pareto fine-tuning, which works for every classifier`,
    )
  }
  checkSets(model, sets, objective)
  return factory(model, sets, objective)
}

function checkSets(model: Classifier, sets: PrivacySets, objective: ObjectiveConfig): void {
  const { height, width, channels, classes } = model.shape
  for (const [name, rows] of Object.entries(sets) as [string, LabelledRows][]) {
    if (rows.height !== height || rows.width !== width || rows.channels !== channels) {
      throw new Error(
        `the ${name} set's images are ${rows.height}×${rows.width}×${rows.channels}, the ${model.kind} takes ${height}×${width}×${channels}: use the data set the model was trained on`,
      )
    }
    const n = rows.labels.length
    if (n === 0) throw new Error(`the ${name} set is empty: F is a mean over it, so it needs at least one image`)
    if (rows.images.length !== n * height * width * channels)
      throw new Error(`the ${name} set has ${rows.images.length} image bytes for ${n} labels of ${height}×${width}×${channels}`)
    const bad = rows.labels.findIndex((y) => y >= classes)
    if (bad >= 0) throw new Error(`the ${name} set's label ${rows.labels[bad]} (row ${bad}) is not one of the model's ${classes} classes`)
  }
  if (!(objective.temperature > 0)) throw new Error(`temperature must be positive, got ${objective.temperature}`)
}
