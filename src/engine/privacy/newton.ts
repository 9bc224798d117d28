// One Newton step from the trained weights w* towards the θ-Pareto minimiser of F: the core of
// the certified Pareto learner (Algorithm 2 of the test-time privacy paper, docs/privacy.md):
//   g = ∇F(w*),  H = ∇²F(w*)  (exact: curvature/, λI of the regulariser included)
//   H ← sym(H);  λ_min = λ_min(H)
//   H_pd = H + (λ − λ_min)·I  if λ_min < 0  (a non-convex model at w*: the shift makes H_pd's
//          smallest eigenvalue λ), else H_pd = H
//   w⁻ = w* − H_pd⁻¹ g
// As the paper's algorithm, a FULL step; the official code takes half a step (w* − ½H⁻¹g), which
// is not the point the sensitivity bound is about. The solve is Cholesky on the dense H (small
// P, exact to rounding) or conjugate gradient on Hessian-vector products; either way the returned
// x is checked by its residual ‖H_pd x − g‖, and ‖x − H_pd⁻¹g‖ ≤ residual / λ_min(H_pd), which
// the certificate adds to the sensitivity. CG is preconditioned by diag(H_pd) (Jacobi) where the
// curvature offers the diagonal; see jacobi() for why it must leave the logit-shift directions
// alone. Noise and Δ are not here (the certificate's module).
import type { Curvature } from './curvature/curvature.js'
import {
  asymmetry,
  choleskyFactor,
  choleskySolve,
  conjugateGradient,
  denseSmallestEigenvalue,
  lanczosSmallest,
  matVec,
  norm,
  symmetrize,
} from './linalg.js'
import type { Eigenvalue, NewtonStep } from './types.js'

export interface NewtonOptions {
  /** 'auto': Cholesky when H offers dense() and P ≤ denseLimit, else CG. */
  method: 'auto' | 'cholesky' | 'cg'
  denseLimit: number
  /** CG stops at ‖r‖ ≤ tolerance·‖g‖. */
  tolerance: number
  maxIterations: number
  /** The λ of F (the shift makes λ_min(H_pd) = λ when H is indefinite). */
  lambda: number
  /**
   * CG's preconditioner: 'none' (the default) or 'jacobi' where the curvature offers
   * hessianDiagonal. Jacobi halves the iterations on badly scaled inputs (the tests) but did not
   * help on Fashion-MNIST logistic regression (bench/README.md), so it is opt-in.
   */
  preconditioner?: 'jacobi' | 'none'
  /**
   * A proven lower bound on λ_min(∇²F) (e.g. λ when F is λ-strongly convex) used instead of
   * Lanczos on the CG path: it saves ~60 Hessian-vector products, and a bound is better than a
   * Ritz estimate for the solver's error bound. Must be > 0 (no shift is then needed).
   */
  lambdaMinBound?: Eigenvalue
  onProgress?: (message: string, done: number, total: number) => void
}

/** Lanczos steps for λ_min of an operator (full reorthogonalisation: P × steps float64 held). */
export const LANCZOS_STEPS = 60

/** NewtonStep, with which CG ran (solver.method is 'cg' for both). */
export interface NewtonResult extends NewtonStep {
  solver: NewtonStep['solver'] & {
    /** "Cholesky", "CG", or "preconditioned CG (Jacobi)". */
    description: string
  }
}

export function newtonStep(wStar: Float64Array, curvature: Curvature, opts: NewtonOptions): NewtonResult {
  const start = performance.now()
  const P = curvature.size
  if (wStar.length !== P) throw new Error(`w* has ${wStar.length} values, the ${curvature.kind} has ${P}`)
  if (!(opts.lambda > 0))
    throw new Error(`λ must be positive for the Newton step (got ${opts.lambda}): it makes the shifted Hessian positive definite`)
  const progress = opts.onProgress ?? (() => {})
  progress('gradient', 0, 3)
  const g = curvature.gradient(wStar)
  progress('Hessian', 1, 3)
  const H = curvature.hessian(wStar)
  const dense = opts.method === 'cholesky' || (opts.method === 'auto' && H.dense !== undefined && P <= opts.denseLimit)
  if (dense && !H.dense)
    throw new Error(
      `the Cholesky solve needs the dense Hessian, which the ${curvature.kind} offers only for small models (this one has ${P} parameters): use conjugate gradient`,
    )

  let lambdaMin: Eigenvalue
  let shift: number
  let x: Float64Array
  let iterations: number
  let description: string
  let applyPd: (v: Float64Array) => Float64Array
  if (dense) {
    const A = H.dense!()
    const skew = asymmetry(A, P)
    symmetrize(A, P)
    progress('smallest eigenvalue', 2, 3)
    lambdaMin = {
      value: denseSmallestEigenvalue(A, P),
      method: `exact (dense Householder tridiagonalisation + bisection; H symmetrised, asymmetry ${skew.toExponential(1)})`,
    }
    shift = lambdaMin.value < 0 ? opts.lambda - lambdaMin.value : 0
    for (let i = 0; i < P; i++) A[i * P + i]! += shift
    progress('Cholesky', 2, 3)
    x = choleskySolve(choleskyFactor(A, P), P, g)
    iterations = 1
    description = 'Cholesky'
    applyPd = (v) => matVec(A, P, v)
  } else {
    if (opts.lambdaMinBound) {
      if (!(opts.lambdaMinBound.value > 0)) throw new Error(`lambdaMinBound must be positive, got ${opts.lambdaMinBound.value}`)
      lambdaMin = opts.lambdaMinBound
    } else {
      const l = lanczosSmallest(H.apply, P, {
        steps: LANCZOS_STEPS,
        onStep: (step, steps) => progress('smallest eigenvalue (Lanczos)', step, steps),
      })
      lambdaMin = {
        value: l.value,
        method: `Lanczos, ${l.steps} steps, full reorthogonalisation, residual ${l.residual.toExponential(2)} (a Ritz value: ≥ the true λ_min)`,
      }
    }
    shift = lambdaMin.value < 0 ? opts.lambda - lambdaMin.value : 0
    applyPd = (v) => {
      const y = H.apply(v)
      if (shift !== 0) for (let i = 0; i < P; i++) y[i]! += shift * v[i]!
      return y
    }
    // Jacobi: M = diag(H_pd) = diag(H) + shift, positive since H_pd is.
    const useJacobi = opts.preconditioner === 'jacobi' && curvature.hessianDiagonal !== undefined
    let preconditioner: ReturnType<typeof jacobi> | undefined
    if (useJacobi) {
      progress('Hessian diagonal (Jacobi preconditioner)', 2, 3)
      preconditioner = jacobi(curvature.hessianDiagonal!(wStar), shift, opts.lambda + shift, curvature.logitShiftBlock)
    }
    description = useJacobi ? 'preconditioned CG (Jacobi)' : 'CG'
    const cg = conjugateGradient(applyPd, g, {
      tolerance: opts.tolerance,
      maxIterations: opts.maxIterations,
      preconditioner,
      onProgress: (it, rel) => progress(`${description}, relative residual ${rel.toExponential(2)}`, it, opts.maxIterations),
    })
    x = cg.x
    iterations = cg.iterations
  }
  const Ax = applyPd(x)
  let r2 = 0
  for (let i = 0; i < P; i++) r2 += (Ax[i]! - g[i]!) ** 2
  const residualNorm = Math.sqrt(r2)
  const gNorm = norm(g)
  const wMinus = new Float64Array(P)
  for (let i = 0; i < P; i++) wMinus[i] = wStar[i]! - x[i]!
  progress('done', 3, 3)
  return {
    wMinus,
    gradient: g,
    lambdaMin,
    shift,
    solver: {
      method: dense ? 'cholesky' : 'cg',
      description,
      iterations,
      residualNorm,
      relativeResidual: gNorm === 0 ? 0 : residualNorm / gNorm,
      errorBound: residualNorm / (lambdaMin.value + shift),
    },
    seconds: (performance.now() - start) / 1000,
  }
}

/**
 * M⁻¹ of the Jacobi preconditioner for H_pd = H + shift·I, from H's diagonal. Plain Jacobi is
 * 1/(H_ii + shift). But for softmax models H_pd is exactly (λ + shift)·I on the logit-shift
 * directions (a block's all-ones vector, curvature.logitShiftBlock): on logreg that is D + 1
 * directions (785 of 7,850 on Fashion-MNIST) at one eigenvalue, which plain CG disposes of in one
 * step, and which plain Jacobi would spread over λ/H_ii, decades apart: on the fixtures it took
 * more iterations than no preconditioner. So with blocks, M⁻¹ = Π D⁻¹ Π + (I − Π)/(λ + shift),
 * Π the projector off each block's mean: Jacobi on the complement, exact on the shift directions
 * (symmetric positive definite, as CG needs).
 */
export function jacobi(
  diagonal: Float64Array,
  shift: number,
  shiftEigenvalue: number,
  block?: number,
): Float64Array | ((r: Float64Array) => Float64Array) {
  const inverse = diagonal.map((h) => 1 / (h + shift))
  if (!block) return inverse
  const P = diagonal.length
  if (P % block !== 0) throw new Error(`${P} parameters are not whole logit-shift blocks of ${block}`)
  return (r) => {
    const z = new Float64Array(P)
    for (let b = 0; b < P; b += block) {
      let mean = 0
      for (let k = 0; k < block; k++) mean += r[b + k]!
      mean /= block
      let tMean = 0
      for (let k = 0; k < block; k++) {
        z[b + k] = (r[b + k]! - mean) * inverse[b + k]!
        tMean += z[b + k]!
      }
      tMean /= block
      for (let k = 0; k < block; k++) z[b + k] = z[b + k]! - tMean + mean / shiftEigenvalue
    }
    return z
  }
}
