// What "an expert specialises in a class" means, shared by the GPT-2 expert view (experts.ts,
// token classes) and the image one (image-experts/, image labels), so that a share of dominated
// experts means the same thing for text and for images and for any expert count.
//
// For one expert, mass[c] is its total gate weight over the items (tokens, images) of class c and
// count[c] the number of such items. Two distributions over classes follow:
//   raw       mass[c] / Σ mass                       — where its gate mass goes;
//   balanced  (mass[c]/count[c]) / Σ_k mass[k]/count[k] — the same on data in which every class
//             is equally frequent (∝ the mean weight per item of the class).
// Raw shares mostly repeat the data's make-up; balanced ones alone let a rare class win on a
// handful of items. An expert is *dominated* by class c when c is the balanced argmax and holds at
// least THRESHOLDS.classShare of both. Experts with less than THRESHOLDS.activeMass of a uniform
// share of the mass (items / N) are inactive and left out of every fraction.

export const THRESHOLDS = {
  /** A class holding this much of an expert's gate mass, raw and balanced, dominates it. */
  classShare: 0.5,
  /** One token holding this much of an expert's raw gate mass makes it specialised (text only). */
  tokenShare: 0.5,
  /** Experts below this fraction of a uniform mass share (1/N) are inactive. */
  activeMass: 0.1,
}

/** mass[c] / count[c], normalised to sum to 1 over the classes present in the data. */
export function balanced(mass: ArrayLike<number>, count: ArrayLike<number>): number[] {
  const means = Array.from(mass, (m, c) => ((count[c] as number) > 0 ? m / (count[c] as number) : 0))
  const total = means.reduce((s, m) => s + m, 0)
  return means.map((m) => (total > 0 ? m / total : 0))
}

export interface ClassDominance {
  /** Raw share of the expert's mass per class. */
  classMass: number[]
  /** Base-rate balanced share per class. */
  classBalanced: number[]
  /** The balanced argmax (ties: the lower class index). */
  topClass: number
  /** The top class holds ≥ THRESHOLDS.classShare raw and balanced. */
  dominated: boolean
  /** Entropy of the balanced shares, bits. */
  entropy: number
}

/** The class distributions of one expert from its mass per class and the data's count per class. */
export function classDominance(mass: ArrayLike<number>, count: ArrayLike<number>): ClassDominance {
  const total = Array.from(mass).reduce((s, m) => s + m, 0)
  const classMass = Array.from(mass, (m) => (total > 0 ? m / total : 0))
  const classBalanced = balanced(mass, count)
  const topClass = argmax(classBalanced)
  const dominated = (classBalanced[topClass] as number) >= THRESHOLDS.classShare && (classMass[topClass] as number) >= THRESHOLDS.classShare
  return { classMass, classBalanced, topClass, dominated, entropy: entropyBits(classBalanced) }
}

/** Whether an expert with gate mass `mass` over `items` items is active among `nExperts`. */
export function isActive(mass: number, items: number, nExperts: number): boolean {
  return mass >= (THRESHOLDS.activeMass * items) / nExperts
}

export function argmax(xs: readonly number[]): number {
  let best = 0
  for (let i = 1; i < xs.length; i++) if ((xs[i] as number) > (xs[best] as number)) best = i
  return best
}

export function entropyBits(p: readonly number[]): number {
  return p.reduce((h, x) => (x > 0 ? h - x * Math.log2(x) : h), 0)
}

/** The median of an ascending list (0 for an empty one). */
export function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return 0
  const mid = sorted.length >> 1
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
