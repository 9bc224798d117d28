// What every kind's curvature module shares: the Curvature interface, the per-row weights of F's
// two means, F's value from the per-row losses, and a dense Hessian by columns, so each kind only
// writes its forward, its vector-Jacobian product and its Hessian-vector product.
import type { HessianOperator, ObjectiveConfig, ObjectiveValue, PrivacySets } from '../types.js'
import { dot } from '../linalg.js'
import { LogitRows } from './logits.js'

export interface Curvature {
  readonly kind: string
  /** P, the length of w. */
  readonly size: number
  value(w: Float64Array): ObjectiveValue
  /** ∇F(w). */
  gradient(w: Float64Array): Float64Array
  /** ∇²F(w), the regulariser's λI included. */
  hessian(w: Float64Array): HessianOperator
  /** The exact diagonal of ∇²F(w), λ included (a Jacobi preconditioner for CG); absent where it is not cheap. */
  hessianDiagonal?(w: Float64Array): Float64Array
  /**
   * Set where w is whole blocks of this many consecutive parameters (one per input feature, one
   * entry per class) and adding a constant to a block shifts every logit equally: the softmax
   * losses do not see that, so ∇²F is exactly λI on those directions (the Jacobi preconditioner
   * keeps them apart, newton.ts).
   */
  readonly logitShiftBlock?: number
  /** ‖∇_w ℓ(x)‖ of each example's own loss term (ℓ_K on D_f, cross-entropy on D_r; no θ, no λ). */
  perExampleGradientNorms(w: Float64Array, set: 'forget' | 'retain'): Float64Array
}

/** H offers dense() up to this many parameters (P² float64 = 128 MiB at 4096). */
export const DENSE_MAX_SIZE = 4096

/** The two terms of F at one w: each set's per-row losses and the weight of a row in F. */
export interface RowTerms {
  forget: { rows: LogitRows; weight: number }
  retain: { rows: LogitRows; weight: number }
}

/** One set's per-row losses (ℓ_K on D_f, cross-entropy on D_r) from its raw logits (n × K). */
export function setRows(
  sets: PrivacySets,
  objective: ObjectiveConfig,
  classes: number,
  which: 'forget' | 'retain',
  logits: Float64Array,
): LogitRows {
  return which === 'forget'
    ? new LogitRows(objective.lossK, logits, null, classes, objective.temperature)
    : new LogitRows('cross-entropy', logits, sets.retain.labels, classes, objective.temperature)
}

/** Both sets' per-row losses from their raw logits, with a row's weight in F (θ/|D_f|, (1 − θ)/|D_r|). */
export function rowTerms(
  sets: PrivacySets,
  objective: ObjectiveConfig,
  classes: number,
  logits: { forget: Float64Array; retain: Float64Array },
): RowTerms {
  const { theta } = objective
  return {
    forget: { rows: setRows(sets, objective, classes, 'forget', logits.forget), weight: theta / sets.forget.labels.length },
    retain: { rows: setRows(sets, objective, classes, 'retain', logits.retain), weight: (1 - theta) / sets.retain.labels.length },
  }
}

/** F's parts from the per-row losses and w. */
export function valueFromRows(terms: RowTerms, objective: ObjectiveConfig, w: Float64Array): ObjectiveValue {
  const mean = (v: Float64Array): number => v.reduce((a, b) => a + b, 0) / v.length
  const lossK = mean(terms.forget.rows.values)
  const lossA = mean(terms.retain.rows.values)
  const regulariser = (objective.lambda / 2) * dot(w, w)
  return { total: objective.theta * lossK + (1 - objective.theta) * lossA + regulariser, lossK, lossA, regulariser }
}

/** The dense Hessian from P applications to the unit vectors (for kinds without a closed form), row-major. */
export function denseByColumns(apply: (v: Float64Array) => Float64Array, size: number): Float64Array {
  const out = new Float64Array(size * size)
  const e = new Float64Array(size)
  for (let j = 0; j < size; j++) {
    e[j] = 1
    const col = apply(e)
    e[j] = 0
    for (let i = 0; i < size; i++) out[i * size + j] = col[i]!
  }
  return out
}
