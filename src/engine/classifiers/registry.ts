// The image classifiers by name. Adding one is a new file exporting a ClassifierModule and one
// line here; the training job, the CLI and the UI read the kinds, titles and schemas from this.
import type { ClassifierModule } from './classifier.js'
import { logregModule } from './logreg.js'
import { mixerModule } from './mixer.js'
import { mlpModule } from './mlp.js'
import type { Classifier, ImageShape } from './classifier.js'

export const CLASSIFIERS = {
  logreg: logregModule,
  mlp: mlpModule,
  mixer: mixerModule,
} as const satisfies Record<string, ClassifierModule>

export type ClassifierKind = keyof typeof CLASSIFIERS
export const CLASSIFIER_KINDS = Object.keys(CLASSIFIERS) as ClassifierKind[]

export function isClassifierKind(kind: string): kind is ClassifierKind {
  return Object.hasOwn(CLASSIFIERS, kind)
}

/**
 * A classifier from its kind and an unvalidated config (a saved run's config.json, a CLI's
 * flags): the schema fills the defaults and refuses out-of-bounds values with their path.
 */
export function createClassifier(kind: string, config: unknown, shape: ImageShape): Classifier {
  if (!isClassifierKind(kind)) throw new Error(`unknown classifier "${kind}" (known: ${CLASSIFIER_KINDS.join(', ')})`)
  const module: ClassifierModule = CLASSIFIERS[kind]
  const parsed = module.schema.safeParse(config ?? {})
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')
    throw new Error(`invalid ${kind} config: ${issues}`)
  }
  return module.create(parsed.data, shape)
}
