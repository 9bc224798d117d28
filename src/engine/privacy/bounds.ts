// The certificate's arithmetic (docs/privacy.md, "Algorithm 2" and "The trade-off bound"): the
// sensitivity Δ from the constants, the Gaussian mechanism's σ from (Δ, ε, δ) and back, and the
// paper's bound on the retain loss given up at θ. Pure functions of numbers; every refusal names
// the numbers that caused it.
import type { CertificateConstants, Sensitivity } from './types.js'

const fmt = (x: number): string => (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(4) : String(Number(x.toPrecision(6))))

/** The θ-mixed constants L = θL_K + (1−θ)L_A and M = θM_K + (1−θ)M_A. */
export function mixed(c: CertificateConstants, theta: number): { L: number; M: number } {
  return { L: theta * c.L_K.value + (1 - theta) * c.L_A.value, M: theta * c.M_K.value + (1 - theta) * c.M_A.value }
}

/**
 * Δ, a bound on ‖w⁻ − w_θ‖ (Zhang et al. 2024, Thm 3.4 form, θ-mixed constants):
 *   convex:     2C²M/λ
 *   non-convex: 2C(MC + λ)/(λ + λ_min)
 * The Hessian is exact (dense or exact Hessian-vector products), so the stochastic inverse-Hessian
 * estimator's term of the paper does not apply; the Newton solve's own error bound
 * ‖x − H_pd⁻¹g‖ ≤ solverErrorBound is added instead (triangle inequality).
 */
export function sensitivity(c: CertificateConstants, theta: number, opts: { convex: boolean; solverErrorBound: number }): Sensitivity {
  const { M } = mixed(c, theta)
  const C = c.C.value
  const lambda = c.lambda.value
  const lambdaMin = c.lambdaMin.value
  if (!(opts.solverErrorBound >= 0)) throw new Error(`sensitivity: the solver's error bound must be ≥ 0, got ${opts.solverErrorBound}`)
  const Mf = `M = θM_K + (1−θ)M_A = ${fmt(theta)}·${fmt(c.M_K.value)} + ${fmt(1 - theta)}·${fmt(c.M_A.value)} = ${fmt(M)}`
  const solver = ` + solver error ${fmt(opts.solverErrorBound)}`
  if (opts.convex) {
    if (!(lambda > 0)) throw new Error(`sensitivity (convex): λ = ${lambda} must be > 0`)
    const newton = (2 * C * C * M) / lambda
    const value = newton + opts.solverErrorBound
    return {
      value,
      form: 'convex',
      terms: { newton, solver: opts.solverErrorBound, M, C, lambda },
      formula: `Δ = 2C²M/λ${solver} = 2·${fmt(C)}²·${fmt(M)}/${fmt(lambda)}${solver} = ${fmt(value)}, ${Mf}`,
    }
  }
  const denominator = lambda + lambdaMin
  if (!(denominator > 0)) {
    throw new Error(
      `sensitivity: λ + λ_min = ${fmt(lambda)} + ${fmt(lambdaMin)} = ${fmt(denominator)} ≤ 0, so the non-convex bound does not hold; raise λ above ${fmt(-lambdaMin)}`,
    )
  }
  const newton = (2 * C * (M * C + lambda)) / denominator
  const value = newton + opts.solverErrorBound
  return {
    value,
    form: 'nonconvex',
    terms: { newton, solver: opts.solverErrorBound, M, C, lambda, lambdaMin },
    formula: `Δ = 2C(MC + λ)/(λ + λ_min)${solver} = 2·${fmt(C)}·(${fmt(M)}·${fmt(C)} + ${fmt(lambda)})/(${fmt(lambda)} + ${fmt(lambdaMin)})${solver} = ${fmt(value)}, ${Mf}`,
  }
}

function checkPrivacy(epsilon: number, delta: number): void {
  if (!(epsilon > 0)) throw new Error(`ε must be > 0, got ${epsilon}`)
  if (!(delta > 0 && delta < 1)) throw new Error(`δ must be in (0, 1), got ${delta}`)
}

/** The classical Gaussian mechanism: σ = (Δ/ε)·√(2 ln(1.25/δ)). */
export function gaussianSigma(sensitivity: number, epsilon: number, delta: number): number {
  checkPrivacy(epsilon, delta)
  return (sensitivity / epsilon) * Math.sqrt(2 * Math.log(1.25 / delta))
}

/** The ε at which σ would suffice for Δ and δ (gaussianSigma solved for ε). */
export function epsilonFor(sensitivity: number, sigma: number, delta: number): number {
  checkPrivacy(1, delta)
  if (!(sigma > 0)) throw new Error(`σ must be > 0, got ${sigma}`)
  return (sensitivity / sigma) * Math.sqrt(2 * Math.log(1.25 / delta))
}

/** What the Gaussian mechanism's guarantee does not cover at these settings (shown beside ε). */
export function gaussianCaveats(epsilon: number): string[] {
  const caveats: string[] = []
  if (epsilon > 1) {
    caveats.push(
      `ε = ${fmt(epsilon)} > 1: the classical Gaussian mechanism σ = (Δ/ε)·√(2 ln(1.25/δ)) is proven for ε ≤ 1 only (Dwork & Roth, Thm A.1); at larger ε the stated (ε, δ) is not proven by this calibration.`,
    )
  }
  return caveats
}

/**
 * The privacy–utility bound on |α* − α(θ)|, the change of the retain loss between the pretrained
 * model and the θ-Pareto model (Ashiq et al. 2025), with L = θL_K + (1−θ)L_A, M = θM_K + (1−θ)M_A:
 *   Δ' = λ − L,  disc = Δ'² − 4θCM(2L_K + λ),  bound = (L_A/(4M) + λC/(2M))·|Δ' − √disc|
 * The form with the square root (which needs disc ≥ 0) is the paper's; the official code drops the
 * square root (|Δ' − |disc||, looser, no condition). We use the paper's and return null when
 * disc < 0 or M ≤ 0.
 */
export function tradeoffBound(c: CertificateConstants, theta: number): { value: number | null; note: string } {
  const { L, M } = mixed(c, theta)
  const lambda = c.lambda.value
  const C = c.C.value
  const paper = 'the paper\'s form (L_A/(4M) + λC/(2M))·|λ − L − √disc| (the official code drops the √, a looser bound)'
  if (!(M > 0)) return { value: null, note: `not applicable: M = ${fmt(M)} ≤ 0 (the bound divides by M); ${paper}` }
  const dPrime = lambda - L
  const disc = dPrime * dPrime - 4 * theta * C * M * (2 * c.L_K.value + lambda)
  if (disc < 0) {
    return {
      value: null,
      note: `not applicable: disc = (λ − L)² − 4θCM(2L_K + λ) = ${fmt(dPrime)}² − 4·${fmt(theta)}·${fmt(C)}·${fmt(M)}·(2·${fmt(c.L_K.value)} + ${fmt(lambda)}) = ${fmt(disc)} < 0; ${paper}`,
    }
  }
  const value = (c.L_A.value / (4 * M) + (lambda * C) / (2 * M)) * Math.abs(dPrime - Math.sqrt(disc))
  return { value, note: `${paper}; L = ${fmt(L)}, M = ${fmt(M)}, λ − L = ${fmt(dPrime)}, disc = ${fmt(disc)}` }
}
