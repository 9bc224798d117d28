// Sparse probing (docs/probing.md): how well one unit of a sparse layer, alone, tells a class
// from the rest. Per class, one-vs-rest: the units with the largest mean(positive) −
// mean(negative) pooled code on the training split are the candidates; each gets a 1-D
// class-balanced logistic regression fitted on the training split; the candidate with the best
// validation F1 is chosen, and its F1 and balanced accuracy on the test split are the result.
// The official code of the paper chooses the unit by test F1, which reads the test labels to
// pick the winner and so overstates it; that optimistic number is kept beside ours, for
// comparison only.
import { Rng } from '../../data/shuffle.js'
import { PROBE_LIMITS, PROBE_SPLIT, type ProbeClassResult } from '../../shared/probe.js'
import { binaryScores, fitLogistic1d, predict } from './logistic.js'
import type { PooledCodes } from './pool.js'

export type SplitName = 'train' | 'validation' | 'test'

/**
 * A stratified, seeded split: each class's examples shuffled with the seed and cut 60 / 20 / 20
 * (validation and test each get round(0.2·n) of a class of n, at least one; train the rest).
 */
export function stratifiedSplit(labels: string[], seed: number): SplitName[] {
  const byClass = new Map<string, number[]>()
  labels.forEach((l, i) => {
    const list = byClass.get(l)
    if (list) list.push(i)
    else byClass.set(l, [i])
  })
  const out = new Array<SplitName>(labels.length)
  // Classes in sorted order, one generator: the split depends on the labels and the seed only.
  const rng = new Rng(seed)
  for (const label of [...byClass.keys()].sort()) {
    const idx = byClass.get(label)!
    for (let i = idx.length - 1; i > 0; i--) {
      const j = rng.below(i + 1)
      ;[idx[i], idx[j]] = [idx[j]!, idx[i]!]
    }
    const nVal = Math.max(1, Math.round(PROBE_SPLIT.validation * idx.length))
    const nTest = Math.max(1, Math.round(PROBE_SPLIT.test * idx.length))
    idx.forEach((e, r) => (out[e] = r < nTest ? 'test' : r < nTest + nVal ? 'validation' : 'train'))
  }
  return out
}

/** Unit u's pooled code on each of `examples` (0 where it did not fire). */
function column(codes: PooledCodes[], examples: number[], unit: number): Float64Array {
  return Float64Array.from(examples, (e) => {
    const c = codes[e]!
    // Binary search in the example's ascending unit list.
    let lo = 0
    let hi = c.units.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const v = c.units[mid]!
      if (v === unit) return c.values[mid]!
      if (v < unit) lo = mid + 1
      else hi = mid - 1
    }
    return 0
  })
}

/** Per unit that fired on the training split: mean(positive) − mean(negative), largest first (ties: lower unit first). */
export function rankCandidates(codes: PooledCodes[], train: number[], positive: boolean[], limit: number = PROBE_LIMITS.candidates): { unit: number; difference: number }[] {
  const sums = new Map<number, [number, number]>()
  let nPos = 0
  for (const e of train) {
    if (positive[e]) nPos++
    const c = codes[e]!
    for (let j = 0; j < c.units.length; j++) {
      const s = sums.get(c.units[j]!) ?? [0, 0]
      s[positive[e] ? 0 : 1] += c.values[j]!
      sums.set(c.units[j]!, s)
    }
  }
  const nNeg = train.length - nPos
  return [...sums.entries()]
    .map(([unit, [p, q]]) => ({ unit, difference: p / nPos - q / nNeg }))
    .sort((a, b) => b.difference - a.difference || a.unit - b.unit)
    .slice(0, limit)
}

/** The one-vs-rest probe of every class. `split[e]` says where example e belongs. */
export function probeClasses(
  codes: PooledCodes[],
  labels: string[],
  split: SplitName[],
  o: { candidates?: number; cancelled?: () => boolean; onClass?: (done: number) => void } = {},
): ProbeClassResult[] | null {
  const classes = [...new Set(labels)].sort()
  const where = (s: SplitName): number[] => split.flatMap((v, e) => (v === s ? [e] : []))
  const train = where('train')
  const validation = where('validation')
  const test = where('test')
  const out: ProbeClassResult[] = []
  for (const label of classes) {
    if (o.cancelled?.()) return null
    const positive = labels.map((l) => l === label)
    const truth = (examples: number[]): boolean[] => examples.map((e) => positive[e]!)
    const count = (examples: number[]): number => examples.filter((e) => positive[e]).length
    const candidates = rankCandidates(codes, train, positive, o.candidates)
    let best: { unit: number; difference: number; weight: number; bias: number; validation: ReturnType<typeof binaryScores>; test: ReturnType<typeof binaryScores> } | null = null
    let oracle: { unit: number; test: ReturnType<typeof binaryScores> } | null = null
    for (const c of candidates) {
      const fit = fitLogistic1d(column(codes, train, c.unit), truth(train))
      const v = binaryScores(predict(fit, column(codes, validation, c.unit)), truth(validation))
      const t = binaryScores(predict(fit, column(codes, test, c.unit)), truth(test))
      // Strictly better only: among equals, the candidate ranked first (largest difference) stays.
      if (!best || v.f1 > best.validation.f1 || (v.f1 === best.validation.f1 && v.balancedAccuracy > best.validation.balancedAccuracy)) {
        best = { ...c, weight: fit.weight, bias: fit.bias, validation: v, test: t }
      }
      if (!oracle || t.f1 > oracle.test.f1 || (t.f1 === oracle.test.f1 && t.balancedAccuracy > oracle.test.balancedAccuracy)) oracle = { unit: c.unit, test: t }
    }
    const none = { f1: 0, balancedAccuracy: 0.5 }
    out.push({
      label,
      positives: { train: count(train), validation: count(validation), test: count(test) },
      candidates: candidates.length,
      unit: best?.unit ?? null,
      meanDifference: best?.difference ?? 0,
      weight: best?.weight ?? 0,
      bias: best?.bias ?? 0,
      validation: best?.validation ?? none,
      test: best?.test ?? none,
      testChosen: { unit: oracle?.unit ?? null, f1: oracle?.test.f1 ?? 0, balancedAccuracy: oracle?.test.balancedAccuracy ?? 0.5 },
    })
    o.onClass?.(out.length)
  }
  return out
}

export function meanScores(classes: ProbeClassResult[]): { f1: number; balancedAccuracy: number; testChosenF1: number; testChosenBalancedAccuracy: number } {
  const mean = (f: (c: ProbeClassResult) => number): number => classes.reduce((s, c) => s + f(c), 0) / Math.max(1, classes.length)
  return {
    f1: mean((c) => c.test.f1),
    balancedAccuracy: mean((c) => c.test.balancedAccuracy),
    testChosenF1: mean((c) => c.testChosen.f1),
    testChosenBalancedAccuracy: mean((c) => c.testChosen.balancedAccuracy),
  }
}
