// The constants of the certificate (docs/privacy.md, "The constants"): for logistic regression
// ANALYTIC bounds from the input norm, for the MLP measurements at w*. Every constant carries its
// provenance ('computed' | 'bounded' | 'estimated' | 'assumed') and a one-sentence method, which
// the certificate shows as is.
//
// Logistic regression: z = (Wᵀx + b)/T = X w with ‖X‖ = R/T, R = ‖[x; 1]‖. For a per-example loss
// ℓ(z): ‖∇_w ℓ‖ = ‖∇_z ℓ‖·R/T, ∇²_w ℓ = Xᵀ ∇²_z ℓ X, and along a step v in w the Hessian changes by
// Xᵀ D³ℓ[Xv] X, so its Lipschitz constant is c₃·R³/T³ with c₃ = sup ‖D³_z ℓ‖ (operator norm of the
// symmetric 3-tensor, which equals sup over unit a of |d³/dt³ ℓ(z + t a)|, Banach's theorem for
// symmetric tensors). The regulariser's third derivative is 0. A mean over a set keeps the bound.
//
// The constants c₁ = sup ‖∇_z ℓ‖ and c₃ over all logits, with p = softmax z, ā = a − E_p a (E_p,
// Var_p, κ₃ the mean, variance and third cumulant of a_c with c ~ p), for unit a:
//   |ā_c| = |Σ_j p_j (a_c − a_j)| ≤ √2;   Var_p(a) ≤ (max a − min a)²/4 ≤ 1/2;   p_c|ā_c| = |(J a)_c| ≤ ‖J a‖ ≤ 1/2
//   (J = diag p − ppᵀ = ∇²lse, λ_max(J) ≤ 1/2), so |κ₃(a)| = |E ā³| ≤ max|ā|·Var ≤ 1/√2.
// - cross-entropy −log p_y = lse(z) − z_y: ∇ = p − e_y, ‖p − e_y‖² = (1−p_y)² + Σ_{j≠y} p_j² ≤ 2(1−p_y)² ≤ 2,
//   c₁ = √2; d³/dt³ = κ₃(a), c₃ = 1/√2. Convex (∇² = J ⪰ 0).
// - reverse KL(U‖p) = lse(z) − mean(z) − log K: ∇ = p − U, ‖p − U‖² = Σp² − 1/K ≤ 1 − 1/K; third
//   derivative κ₃(a): c₃ = 1/√2. Convex.
// - squared ‖p − U‖² = Σp² − 1/K: ∇ = 2J(p − U), ‖∇‖ ≤ 2·½·√(1 − 1/K). With dp_c/dt = p_c ā_c and
//   dā_c/dt = −Var: f''' = 2Σ p_c²(4ā_c³ − 6 Var ā_c − κ₃); Σp_c²|ā_c|³ ≤ max(p_c|ā_c|)·Σ p_c ā_c² ≤ ¼,
//   Σ p_c²|ā_c| ≤ ‖p‖·‖Ja‖ ≤ ½, Σp_c² ≤ 1, so c₃ = 2(4·¼ + 6·½·½ + 1/√2) = 5 + √2. NOT convex (bounded, non-constant in z).
// - forward KL(p‖U) = ⟨p, z⟩ − lse(z) + log K: ∇ = J z = p ⊙ (log p + H), the entries with log p_c ≥ −H
//   are ≤ p_c log K and the others ≤ p_c|log p_c| with Σ p_c² log² p_c ≤ max_t t log² t = 4/e², so
//   c₁ = √(log² K + 4/e²). Along a: f' = κ₂(a, z), f'' = κ₂(a, a) + κ₃(a, a, z), f''' = κ₄(a, a, a, z) + 2κ₃(a),
//   with κ₄(a,a,a,ℓ) = E[ā³ℓ̄] − 3 Var·E[āℓ̄] for ℓ = log p (cumulants ignore the shift z − log p).
//   Cauchy–Schwarz with E ā⁶ ≤ max ā⁴·Var ≤ 2 and V = Var_p(log p) (the varentropy):
//   |κ₄| ≤ √2·√V + 3·½·√½·√V = (7√2/4)·√V. And V ≤ E[log²(Kp)] = Σ p_c log²(K p_c) ≤ log² K + 4/e²
//   (entries with p_c ≥ 1/K: log²(K p_c) ≤ log² K; entries below: p log²(Kp) ≤ (1/K)·4/e² each, at most K
//   of them). So c₃ = (7√2/4)·√(log² K + 4/e²) + √2. NOT convex (−H(p) is bounded and non-constant in z).
import type { CertificateConstant, CertificateConstants, HessianOperator, LabelledRows, UncertaintyLoss } from './types.js'
import { gaussianNoise } from './noise.js'

/** max over the images of ‖[x; 1]‖ with x = bytes·pixelScale: R in the logreg bounds. */
export function inputNormBound(rows: LabelledRows[], pixelScale: number): number {
  let max = 0
  for (const r of rows) {
    const d = r.height * r.width * r.channels
    const n = r.images.length / d
    for (let i = 0; i < n; i++) {
      let s = 1 // the bias input
      for (let j = i * d; j < (i + 1) * d; j++) {
        const x = r.images[j]! * pixelScale
        s += x * x
      }
      if (s > max) max = s
    }
  }
  return Math.sqrt(max)
}

/** The logit-space constants of one loss: c₁ = sup‖∇_z ℓ‖, c₃ = sup‖D³_z ℓ‖, convexity in z. */
export interface LogitConstants {
  gradient: number
  gradientFormula: string
  third: number
  thirdFormula: string
  convex: boolean
}

export function logitConstants(loss: UncertaintyLoss | 'cross-entropy', classes: number): LogitConstants {
  const K = classes
  switch (loss) {
    case 'cross-entropy':
      return { gradient: Math.SQRT2, gradientFormula: '‖p − e_y‖ ≤ √2', third: Math.SQRT1_2, thirdFormula: '|κ₃| ≤ 1/√2', convex: true }
    case 'reverse-kl':
      return { gradient: Math.sqrt(1 - 1 / K), gradientFormula: '‖p − U‖ ≤ √(1 − 1/K)', third: Math.SQRT1_2, thirdFormula: '|κ₃| ≤ 1/√2', convex: true }
    case 'squared':
      return { gradient: Math.sqrt(1 - 1 / K), gradientFormula: '‖2J(p − U)‖ ≤ √(1 − 1/K)', third: 5 + Math.SQRT2, thirdFormula: '|f‴| ≤ 5 + √2', convex: false }
    case 'forward-kl':
      return {
        gradient: Math.sqrt(Math.log(K) ** 2 + 4 / Math.E ** 2),
        gradientFormula: '‖p ⊙ (log p + H)‖ ≤ √(log²K + 4/e²)',
        third: ((7 * Math.SQRT2) / 4) * Math.sqrt(Math.log(K) ** 2 + 4 / Math.E ** 2) + Math.SQRT2,
        thirdFormula: '|κ₄(a,a,a,log p) + 2κ₃| ≤ (7√2/4)·√(log²K + 4/e²) + √2',
        convex: false,
      }
  }
}

/** Whether F is convex in w for logistic regression with this L_K (then λ_min ≥ 0 is a bound). */
export const logregConvex = (lossK: UncertaintyLoss): boolean => logitConstants(lossK, 2).convex

interface Scalars {
  classes: number
  lambda: number
  normBound: number
  nForget: number
  nRetain: number
  parameters: number
}

/** The smallest eigenvalue of sym(∇²F) at w* (the curvature module's Eigenvalue), λ included. */
export interface MeasuredLambdaMin {
  value: number
  method: string
}

const fmt = (x: number): string => (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(4) : String(Number(x.toPrecision(6))))

function common(a: Scalars): Pick<CertificateConstants, 'C' | 'lambda' | 'nForget' | 'nRetain' | 'parameters'> {
  return {
    C: { value: a.normBound, provenance: 'assumed', method: `‖w‖ ≤ C = ${fmt(a.normBound)}, set by the user (‖w*‖ and ‖w⁻‖ are checked against it).` },
    lambda: { value: a.lambda, provenance: 'computed', method: `λ = ${fmt(a.lambda)}, the regulariser weight set by the user.` },
    nForget: { value: a.nForget, provenance: 'computed', method: '|D_f|, counted.' },
    nRetain: { value: a.nRetain, provenance: 'computed', method: '|D_r|, counted.' },
    parameters: { value: a.parameters, provenance: 'computed', method: 'P, the length of w, counted.' },
  }
}

/**
 * λ_min in the certificate is a lower bound on the smallest eigenvalue of the DATA part
 * θ∇²L_K + (1−θ)∇²L_A (no regulariser), so that λ + λ_min bounds ∇²F from below. A measurement
 * of sym(∇²F) includes λ, and is converted here.
 */
function lambdaMinFromMeasured(m: MeasuredLambdaMin, lambda: number): CertificateConstant {
  return {
    value: m.value - lambda,
    provenance: 'estimated',
    method: `λ_min(∇²F at w*) − λ = ${fmt(m.value)} − ${fmt(lambda)}, measured at w* only (${m.method}), not a bound over ‖w‖ ≤ C.`,
  }
}

/**
 * Logistic regression's constants as analytic bounds (header comment). λ_min: for a convex L_K
 * (reverse KL) the data Hessian is PSD, so 0 is a bound; for forward KL and squared it is not,
 * and a measurement must be given (throws without one: the convex formula would be wrong).
 */
export function logregConstants(a: Scalars & {
  inputNorm: number
  temperature: number
  lossK: UncertaintyLoss
  theta: number
  measuredLambdaMin?: MeasuredLambdaMin
}): CertificateConstants {
  const RT = a.inputNorm / a.temperature
  const k = logitConstants(a.lossK, a.classes)
  const ce = logitConstants('cross-entropy', a.classes)
  const scale = `R/T = ${fmt(a.inputNorm)}/${fmt(a.temperature)}`
  const bound = (c: number, formula: string, power: 1 | 3, what: string): CertificateConstant => ({
    value: c * RT ** power,
    provenance: 'bounded',
    method: `${what} ≤ c·(R/T)${power === 3 ? '³' : ''} with ${formula} over all logits, ${scale} (docs/privacy.md).`,
  })
  let lambdaMin: CertificateConstant
  if (k.convex) {
    lambdaMin = { value: 0, provenance: 'bounded', method: `0: CE and ${a.lossK} are convex in the logits, which are linear in w, so the data Hessian is PSD (∇²F ⪰ λI).` }
  } else if (a.measuredLambdaMin) {
    lambdaMin = lambdaMinFromMeasured(a.measuredLambdaMin, a.lambda)
  } else {
    throw new Error(`logregConstants: L_K = ${a.lossK} is not convex in w, so λ_min must be measured (pass measuredLambdaMin, the smallest eigenvalue of sym(∇²F) at w*)`)
  }
  return {
    L_K: bound(k.gradient, k.gradientFormula, 1, `per-example ‖∇_w ${a.lossK}‖`),
    L_A: bound(ce.gradient, ce.gradientFormula, 1, 'per-example ‖∇_w CE‖'),
    M_K: bound(k.third, k.thirdFormula, 3, `Hessian-Lipschitz constant of ${a.lossK}`),
    M_A: bound(ce.third, ce.thirdFormula, 3, 'Hessian-Lipschitz constant of CE'),
    lambdaMin,
    inputNorm: { value: a.inputNorm, provenance: 'computed', method: 'R = max ‖[x; 1]‖ over D_f ∪ D_r, pixels = bytes/255.' },
    ...common(a),
  }
}

/**
 * Constants MEASURED at w* (the MLP, which is not convex and has no useful global bound):
 * L as the largest per-example gradient norm at w*; M as the largest ‖(H(w* + r·d) − H(w*))v‖/r
 * over `samples` random unit directions d and probes v ∈ {d, a random unit vector}, r = radius.
 * Both are estimates at one point, not bounds over ‖w‖ ≤ C: the certificate says so.
 * `hessianAt(w, set)` is the Hessian of the mean loss over that set (L_K on D_f, CE on D_r),
 * without the regulariser.
 */
export function estimatedConstants(a: Scalars & {
  perExampleGradientNorms: (set: 'forget' | 'retain') => Float64Array
  hessianAt: (w: Float64Array, set: 'forget' | 'retain') => HessianOperator
  wStar: Float64Array
  lambdaMin: MeasuredLambdaMin
  samples: number
  radius: number
  seed: number
  inputNorm: number
}): CertificateConstants {
  const P = a.wStar.length
  if (a.samples < 1 || !(a.radius > 0)) throw new Error(`estimatedConstants: samples (${a.samples}) must be ≥ 1 and radius (${a.radius}) > 0`)
  const maxNorm = (set: 'forget' | 'retain'): number => a.perExampleGradientNorms(set).reduce((m, x) => Math.max(m, x), 0)
  // One noise stream for all directions and probes: 2P numbers per sample.
  const noise = gaussianNoise(a.seed, 2 * P * a.samples)
  const unit = (s: number, which: 0 | 1): Float64Array => {
    const v = noise.slice((2 * s + which) * P, (2 * s + which + 1) * P)
    let n = 0
    for (const x of v) n += x * x
    n = Math.sqrt(n)
    return v.map((x) => x / n)
  }
  const hessianLipschitz = (set: 'forget' | 'retain'): number => {
    const h0 = a.hessianAt(a.wStar, set)
    let max = 0
    for (let s = 0; s < a.samples; s++) {
      const d = unit(s, 0)
      const h1 = a.hessianAt(a.wStar.map((w, i) => w + a.radius * d[i]!), set)
      for (const v of [d, unit(s, 1)]) {
        const x0 = h0.apply(v)
        const x1 = h1.apply(v)
        let diff = 0
        for (let i = 0; i < P; i++) diff += (x1[i]! - x0[i]!) ** 2
        max = Math.max(max, Math.sqrt(diff) / a.radius)
      }
    }
    return max
  }
  const atWStar = (value: number, what: string): CertificateConstant => ({ value, provenance: 'estimated', method: `${what}, measured at w* (not a bound over ‖w‖ ≤ C).` })
  const fd = (set: string): string =>
    `max over ${a.samples} random unit directions d (seed ${a.seed}) of ‖(H(w* + r d) − H(w*))v‖/r for v = d and a random unit v, r = ${fmt(a.radius)}, Hessian of the mean ${set}`
  return {
    L_K: atWStar(maxNorm('forget'), `max over D_f of the per-example ‖∇_w L_K‖`),
    L_A: atWStar(maxNorm('retain'), `max over D_r of the per-example ‖∇_w CE‖`),
    M_K: atWStar(hessianLipschitz('forget'), fd('L_K on D_f')),
    M_A: atWStar(hessianLipschitz('retain'), fd('CE on D_r')),
    lambdaMin: lambdaMinFromMeasured(a.lambdaMin, a.lambda),
    inputNorm: { value: a.inputNorm, provenance: 'computed', method: 'R = max ‖[x; 1]‖ over D_f ∪ D_r, pixels = bytes/255 (recorded; the MLP constants do not use it).' },
    ...common(a),
  }
}
