// The train / validation / test split of an image dataset, by class (stratified) and seeded.
// Each class's candidates are shuffled with an Rng seeded by (seed, class) and the first
// round(fraction · count) are held out, so every class keeps its share, the same seed always
// gives the same split on every machine, and adding a class leaves the other classes' splits
// as they were. An IDX dataset's official test split is never drawn from: validation comes
// from its train part; an image folder has no official split, so its test part is drawn first.
import { Rng } from '../shuffle.js'

export type ImageSplit = 'train' | 'validation' | 'test'
export const IMAGE_SPLITS: readonly ImageSplit[] = ['train', 'validation', 'test']

export const DEFAULT_VALIDATION_FRACTION = 0.1
export const DEFAULT_TEST_FRACTION = 0.1
export const DEFAULT_IMAGE_SPLIT_SEED = 0

/** Split codes, one byte per image, in the order of `IMAGE_SPLITS`. */
export const SPLIT_CODE: Record<ImageSplit, number> = { train: 0, validation: 1, test: 2 }

/**
 * Marks round(fraction · n_c) of each class c among the images whose code is `from` as `to`.
 * `codes` is changed in place.
 */
export function holdOutStratified(labels: Uint8Array, codes: Uint8Array, from: number, to: number, fraction: number, seed: number): void {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`the held-out fraction must be in [0, 1), not ${fraction}`)
  const byClass = new Map<number, number[]>()
  for (let i = 0; i < labels.length; i++) {
    if (codes[i] !== from) continue
    const list = byClass.get(labels[i]!)
    if (list) list.push(i)
    else byClass.set(labels[i]!, [i])
  }
  for (const [label, indices] of byClass) {
    // One stream per (seed, class, target split): the classes' draws do not depend on each other.
    const rng = new Rng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(label + 1, 0x85ebca77) ^ Math.imul(to + 1, 0xc2b2ae3d)) >>> 0)
    const take = Math.round(fraction * indices.length)
    // Partial Fisher–Yates: only the first `take` places need drawing.
    for (let i = 0; i < take; i++) {
      const j = i + rng.below(indices.length - i)
      const t = indices[i]!
      indices[i] = indices[j]!
      indices[j] = t
      codes[indices[i]!] = to
    }
  }
}

export interface SplitPlan {
  validationFraction: number
  /** Only for datasets without an official test split (image folders). */
  testFraction: number | null
  seed: number
}

/**
 * The split of every image: `officialTest[i]` marks images of an official test split (IDX);
 * with `plan.testFraction` set, the test part is drawn from all images first.
 */
export function splitCodes(labels: Uint8Array, officialTest: number, plan: SplitPlan): Uint8Array {
  const codes = new Uint8Array(labels.length)
  // The official test images are the last `officialTest` of the dataset's order.
  codes.fill(SPLIT_CODE.test, labels.length - officialTest)
  if (plan.testFraction !== null) holdOutStratified(labels, codes, SPLIT_CODE.train, SPLIT_CODE.test, plan.testFraction, plan.seed)
  holdOutStratified(labels, codes, SPLIT_CODE.train, SPLIT_CODE.validation, plan.validationFraction, plan.seed)
  return codes
}

/** Images per split and per class: counts[split][class]. */
export function countBySplit(labels: Uint8Array, codes: Uint8Array, classes: number): Record<ImageSplit, number[]> {
  const counts = { train: new Array<number>(classes).fill(0), validation: new Array<number>(classes).fill(0), test: new Array<number>(classes).fill(0) }
  for (let i = 0; i < labels.length; i++) counts[IMAGE_SPLITS[codes[i]!]!][labels[i]!]!++
  return counts
}
