// The float64 privacy references (scripts/fixtures/make_privacy_fixtures.py): the sets, the model,
// the objective and torch's value, gradient, Hessian and Newton step of each case.
import { join } from 'node:path'
import type { ImageShape } from '../../../src/engine/classifiers/classifier.js'
import { createClassifier } from '../../../src/engine/classifiers/registry.js'
import type { Classifier } from '../../../src/engine/classifiers/classifier.js'
import { SafetensorsFile } from '../../../src/engine/safetensors.js'
import type { LabelledRows, ObjectiveConfig, PrivacySets, UncertaintyLoss } from '../../../src/engine/privacy/types.js'

export const PRIVACY_FIXTURES = join(import.meta.dirname, '../../fixtures/privacy')
export const LOSSES: UncertaintyLoss[] = ['forward-kl', 'reverse-kl', 'squared']
export const CASES = (['logreg', 'mlp'] as const).flatMap((kind) => LOSSES.flatMap((loss) => [1, 2].map((t) => `${kind}-${loss}-t${t}`)))

export interface PrivacyCase {
  name: string
  model: Classifier
  sets: PrivacySets
  objective: ObjectiveConfig
  get(name: string): Float64Array
  has(name: string): boolean
}

export function loadCase(name: string): PrivacyCase {
  const file = SafetensorsFile.open(join(PRIVACY_FIXTURES, `${name}.safetensors`))
  try {
    const tensors = new Map<string, Float64Array>()
    for (const n of file.tensors.keys()) tensors.set(n, file.readFloat64(n))
    const m = file.metadata
    const shape = JSON.parse(m.shape!) as ImageShape
    const rows = (which: string): LabelledRows => ({
      images: Uint8Array.from(tensors.get(`images_${which}`)!),
      labels: Uint8Array.from(tensors.get(`labels_${which}`)!),
      height: shape.height,
      width: shape.width,
      channels: shape.channels,
    })
    return {
      name,
      model: createClassifier(m.kind!, JSON.parse(m.config!), shape),
      sets: { forget: rows('forget'), retain: rows('retain') },
      objective: {
        theta: Number(m.theta),
        lambda: Number(m.lambda),
        lossK: m.lossK as UncertaintyLoss,
        temperature: Number(m.temperature),
      },
      get(n) {
        const t = tensors.get(n)
        if (!t) throw new Error(`fixture ${name} has no tensor ${n}`)
        return t
      },
      has: (n) => tensors.has(n),
    }
  } finally {
    file.close()
  }
}

/** max |actual − expected| ≤ rel · max |expected|; returns the achieved ratio. */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 0
  let worst = 0
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!))
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!))
  }
  return worst / Math.max(scale, 1e-300)
}
