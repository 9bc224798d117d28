// A class-balanced logistic regression on one feature, p = σ(w·x + b), fitted exactly: Newton's
// method on the two parameters (a 2×2 system per step) with step halving, so it converges to
// the minimiser in a handful of steps rather than approximately after many gradient steps.
// Class-balanced: each positive weighs n/(2·n₊) and each negative n/(2·n₋), so both classes
// count equally (as sklearn's class_weight="balanced"). An L2 penalty λ/2·w² (none on b) keeps
// the fit finite when the unit separates the classes perfectly, where the unpenalised optimum
// is at |w| → ∞; its predictions are those of the separating threshold all the same.

export interface Logistic {
  weight: number
  bias: number
  /** Newton steps taken. */
  steps: number
}

/** The penalty used by the probe: small enough not to move a fit that has a finite optimum much. */
export const DEFAULT_L2 = 1e-4

const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)))
/** log(1 + e^z), without overflow. */
const softplus = (z: number): number => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)))

export function fitLogistic1d(x: ArrayLike<number>, y: ArrayLike<boolean>, o: { l2?: number; maxSteps?: number } = {}): Logistic {
  const n = x.length
  const l2 = o.l2 ?? DEFAULT_L2
  let pos = 0
  for (let i = 0; i < n; i++) if (y[i]) pos++
  if (pos === 0 || pos === n) throw new RangeError('a logistic regression needs examples of both classes')
  const wPos = n / (2 * pos)
  const wNeg = n / (2 * (n - pos))
  // Standardised x, so that the penalty and the convergence test do not depend on the code's scale.
  let mean = 0
  for (let i = 0; i < n; i++) mean += x[i]!
  mean /= n
  let sd = 0
  for (let i = 0; i < n; i++) sd += (x[i]! - mean) ** 2
  sd = Math.sqrt(sd / n)
  if (sd === 0) sd = 1
  const z = Float64Array.from({ length: n }, (_, i) => (x[i]! - mean) / sd)
  // The penalty is on the standardised slope; its scale in the per-example average loss is 1/n.
  const loss = (a: number, b: number): number => {
    let s = 0
    for (let i = 0; i < n; i++) {
      const t = a * z[i]! + b
      s += y[i] ? wPos * softplus(-t) : wNeg * softplus(t)
    }
    return s / n + (l2 / 2) * a * a
  }
  let a = 0
  let b = 0
  let steps = 0
  let current = loss(a, b)
  for (; steps < (o.maxSteps ?? 200); steps++) {
    // Gradient and Hessian of the mean weighted loss.
    let ga = 0
    let gb = 0
    let haa = 0
    let hab = 0
    let hbb = 0
    for (let i = 0; i < n; i++) {
      const p = sigmoid(a * z[i]! + b)
      const w = y[i] ? wPos : wNeg
      const r = w * (p - (y[i] ? 1 : 0))
      const h = w * p * (1 - p)
      ga += r * z[i]!
      gb += r
      haa += h * z[i]! * z[i]!
      hab += h * z[i]!
      hbb += h
    }
    ga = ga / n + l2 * a
    gb /= n
    haa = haa / n + l2
    hab /= n
    hbb /= n
    if (Math.hypot(ga, gb) < 1e-12) break
    // Solve H·d = g; a tiny ridge keeps a flat direction (all examples saturated) solvable.
    const ridge = 1e-12
    const det = (haa + ridge) * (hbb + ridge) - hab * hab
    let da = ((hbb + ridge) * ga - hab * gb) / det
    let db = ((haa + ridge) * gb - hab * ga) / det
    if (!Number.isFinite(da) || !Number.isFinite(db)) {
      da = ga
      db = gb
    }
    let t = 1
    let next = loss(a - t * da, b - t * db)
    while (next > current && t > 1e-10) {
      t /= 2
      next = loss(a - t * da, b - t * db)
    }
    if (!(next <= current)) break
    const moved = Math.hypot(t * da, t * db)
    a -= t * da
    b -= t * db
    current = next
    if (moved < 1e-13) break
  }
  // Back to the raw scale: a·(x − mean)/sd + b = (a/sd)·x + (b − a·mean/sd).
  return { weight: a / sd, bias: b - (a * mean) / sd, steps }
}

export interface BinaryScores {
  f1: number
  balancedAccuracy: number
}

/** F1 of the positive class (0 when there is no true or predicted positive) and balanced accuracy. */
export function binaryScores(predicted: ArrayLike<boolean>, actual: ArrayLike<boolean>): BinaryScores {
  let tp = 0
  let fp = 0
  let fn = 0
  let tn = 0
  for (let i = 0; i < actual.length; i++) {
    if (predicted[i] && actual[i]) tp++
    else if (predicted[i]) fp++
    else if (actual[i]) fn++
    else tn++
  }
  const f1 = tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn)
  const tpr = tp + fn > 0 ? tp / (tp + fn) : 0
  const tnr = tn + fp > 0 ? tn / (tn + fp) : 0
  return { f1, balancedAccuracy: (tpr + tnr) / 2 }
}

/** The fit's predictions: positive where w·x + b ≥ 0 (p ≥ 0.5). */
export function predict(fit: Pick<Logistic, 'weight' | 'bias'>, x: ArrayLike<number>): boolean[] {
  return Array.from({ length: x.length }, (_, i) => fit.weight * x[i]! + fit.bias >= 0)
}
