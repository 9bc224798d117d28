// newtonStep and its linear algebra. Against PyTorch float64 (make_privacy_fixtures.py): one full
// step w* − H_pd⁻¹∇F (torch.linalg.solve; H_pd shifted by λ − λ_min where torch's eigvalsh finds
// λ_min < 0, as on every MLP case here) by Cholesky and by CG, λ_min itself, and, for logreg,
// Newton iterated from torch's start point reaching torch's exact minimiser. Against hand
// computations: a quadratic whose Hessian Q diag(d) Qᵀ (Q a Householder reflector) has known
// eigenvalues, one negative, so the shift, λ_min and the step are known in closed form.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../../src/engine/backend.js'
import { curvatureFor, type Curvature } from '../../../src/engine/privacy/curvature/registry.js'
import {
  choleskyFactor,
  choleskySolve,
  conjugateGradient,
  denseSmallestEigenvalue,
  lanczosSmallest,
  matVec,
} from '../../../src/engine/privacy/linalg.js'
import { jacobi, newtonStep, type NewtonOptions } from '../../../src/engine/privacy/newton.js'
import { uniform } from '../layers/helpers.js'
import { CASES, loadCase, relError } from './fixtures.js'

beforeAll(async () => {
  await initBackend()
})

const OPTS: NewtonOptions = { method: 'auto', denseLimit: 4096, tolerance: 1e-12, maxIterations: 2000, lambda: 0.01 }

describe('newtonStep with a proven λ_min bound (convex logistic regression)', () => {
  it('skips Lanczos, records the bound, and solves the same step as torch', () => {
    const c = loadCase('logreg-reverse-kl-t1')
    const curvature = curvatureFor(c.model, c.sets, c.objective)
    const messages: string[] = []
    const bound = { value: c.objective.lambda, method: 'bounded: λ (convex)' }
    const step = newtonStep(c.get('w'), curvature, { ...OPTS, lambda: c.objective.lambda, method: 'cg', lambdaMinBound: bound, onProgress: (m) => messages.push(m) })
    expect(messages.some((m) => /Lanczos/.test(m))).toBe(false)
    expect(step.lambdaMin).toEqual(bound)
    expect(c.get('lambda_min')[0]!).toBeGreaterThanOrEqual(bound.value - 1e-12) // the bound holds
    expect(step.shift).toBe(0)
    expect(relError(step.wMinus, c.get('newton'))).toBeLessThan(1e-7)
    expect(() => newtonStep(c.get('w'), curvature, { ...OPTS, method: 'cg', lambdaMinBound: { value: 0, method: 'x' } })).toThrow(/must be positive/)
  })
})

describe.each(CASES)('newtonStep %s', (name) => {
  const c = loadCase(name)
  const logreg = name.startsWith('logreg')
  let curvature: Curvature
  beforeAll(() => {
    curvature = curvatureFor(c.model, c.sets, c.objective)
  })

  it.each(['cholesky', 'cg'] as const)('%s: w⁻ = w* − H_pd⁻¹g as torch, with the shift where λ_min < 0', (method) => {
    const messages: string[] = []
    const step = newtonStep(c.get('w'), curvature, { ...OPTS, method, onProgress: (m) => messages.push(m) })
    const lamMin = c.get('lambda_min')[0]!
    expect(step.solver.method).toBe(method)
    expect(relError(step.wMinus, c.get('newton'))).toBeLessThan(logreg ? 1e-7 : 1e-4)
    expect(relError(step.gradient, c.get('gradient'))).toBeLessThan(logreg ? 1e-9 : 1e-4)
    // Dense: exact; Lanczos: a Ritz value, close after 60 steps on P ≤ 148.
    expect(Math.abs(step.lambdaMin.value - lamMin)).toBeLessThan(method === 'cholesky' ? (logreg ? 1e-9 : 1e-5) : 1e-4)
    expect(step.lambdaMin.method).toMatch(method === 'cholesky' ? /^exact/ : /^Lanczos/)
    if (logreg) {
      expect(step.shift).toBe(0)
    } else {
      expect(lamMin).toBeLessThan(0)
      expect(Math.abs(step.shift - (0.01 - lamMin))).toBeLessThan(1e-4)
    }
    // The MLP operator's float32 products make its recomputed residual ~1e-7 at best.
    expect(step.solver.relativeResidual).toBeLessThan(method === 'cholesky' ? 1e-10 : logreg ? 1e-11 : 1e-5)
    expect(step.solver.errorBound).toBeCloseTo(step.solver.residualNorm / (step.lambdaMin.value + step.shift), 15)
    if (method === 'cg') expect(step.solver.iterations).toBeGreaterThan(1)
    if (method === 'cg') expect(step.solver.iterations).toBeLessThan(OPTS.maxIterations)
    // Logreg offers its exact diagonal, so its CG is preconditioned; the MLP's is plain.
    expect(step.solver.description).toBe(method === 'cholesky' ? 'Cholesky' : 'CG')
    expect(messages.at(-1)).toBe('done')
  })
})

describe.each(CASES.filter((n) => n.startsWith('logreg')))('Newton iteration %s', (name) => {
  it('iterated from torch start point, reaches the exact minimiser', () => {
    const c = loadCase(name)
    const curvature = curvatureFor(c.model, c.sets, c.objective)
    let w = c.get('minimiser_start')
    let step = newtonStep(w, curvature, OPTS)
    for (let i = 0; i < 8; i++) {
      w = step.wMinus
      step = newtonStep(w, curvature, OPTS)
    }
    expect(relError(w, c.get('minimiser'))).toBeLessThan(1e-9)
    expect(Math.hypot(...step.gradient)).toBeLessThan(1e-12)
  })
})

describe.each(['logreg-reverse-kl-t1', 'logreg-forward-kl-t2'])('Jacobi-preconditioned CG on an ill-conditioned logreg (%s)', (name) => {
  // 2,020 rows of the fixture's 5×5 images with pixel scales spanning 2⁻⁶ … 1 and λ = 1e-4: H's
  // diagonal spans decades. The reference is the Cholesky step on the dense float64 H.
  const c = loadCase(name)
  const rand = uniform(7)
  const rows = (n: number) => ({
    ...c.sets.retain,
    labels: Uint8Array.from({ length: n }, () => Math.floor(Math.abs(rand()) * 3) % 3),
    images: Uint8Array.from({ length: n * 25 }, (_, j) => Math.round(255 * Math.abs(rand()) * 2 ** -((j % 25) / 4))),
  })
  const lambda = 1e-4
  const sets = { forget: rows(20), retain: rows(2000) }
  let curvature: Curvature
  beforeAll(() => {
    curvature = curvatureFor(c.model, sets, { ...c.objective, lambda })
  })
  const opts = { ...OPTS, method: 'cg' as const, tolerance: 1e-10, maxIterations: 5000, lambda }

  it('solves the same system as Cholesky in fewer iterations than plain CG; plain Jacobi would take more', () => {
    const w = c.get('w')
    const exact = newtonStep(w, curvature, { ...opts, method: 'cholesky' })
    const plain = newtonStep(w, curvature, opts)
    const pcg = newtonStep(w, curvature, { ...opts, preconditioner: 'jacobi' })
    expect(plain.solver.description).toBe('CG')
    expect(pcg.solver.description).toBe('preconditioned CG (Jacobi)')
    expect(relError(plain.wMinus, exact.wMinus)).toBeLessThan(1e-7)
    expect(relError(pcg.wMinus, exact.wMinus)).toBeLessThan(1e-7)
    expect(pcg.solver.relativeResidual).toBeLessThan(1e-9)
    // Plain diagonal scaling, 1/H_ii everywhere, spreads the logit-shift eigenvalue λ.
    const g = curvature.gradient(w)
    const naive = conjugateGradient(curvature.hessian(w).apply, g, {
      tolerance: 1e-10,
      maxIterations: 5000,
      preconditioner: curvature.hessianDiagonal!(w).map((h) => 1 / h),
    })
    console.log(`${name}: CG ${plain.solver.iterations}, Jacobi-PCG ${pcg.solver.iterations}, naive Jacobi ${naive.iterations} iterations`)
    // Measured: reverse-kl 84 → 32 (naive Jacobi 98), forward-kl T=2 56 → 31 (naive 80).
    expect(pcg.solver.iterations).toBeLessThan(0.7 * plain.solver.iterations)
    expect(naive.iterations).toBeGreaterThan(plain.solver.iterations)
  })

  it('the logit-shift directions are an exact eigenspace of H at λ (what the preconditioner relies on)', () => {
    const op = curvature.hessian(c.get('w'))
    const v = new Float64Array(curvature.size)
    for (let d = 0; d < curvature.size / 3; d++) v.fill(Math.sin(d + 1), d * 3, d * 3 + 3)
    expect(
      relError(
        op.apply(v),
        v.map((x) => lambda * x),
      ),
    ).toBeLessThan(1e-10)
  })
})

describe('jacobi', () => {
  it('without blocks is 1/(H_ii + shift); with blocks, exact (1/(λ + shift)) on each block mean and symmetric', () => {
    const diag = new Float64Array([2, 3, 5, 7, 11, 13])
    expect(Array.from(jacobi(diag, 1, 0.5) as Float64Array)).toEqual([1 / 3, 1 / 4, 1 / 6, 1 / 8, 1 / 12, 1 / 14])
    const m = jacobi(diag, 1, 0.5, 3) as (r: Float64Array) => Float64Array
    expect(Array.from(m(new Float64Array([1, 1, 1, 0, 0, 0])))).toEqual([2, 2, 2, 0, 0, 0].map((x) => expect.closeTo(x, 14)))
    // A symmetric matrix: e_iᵀ M⁻¹ e_j = e_jᵀ M⁻¹ e_i, and positive on a vector off the block means.
    const cols = [0, 1, 2, 3, 4, 5].map((j) => m(Float64Array.from({ length: 6 }, (_, i) => (i === j ? 1 : 0))))
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) expect(cols[j]![i]).toBeCloseTo(cols[i]![j]!, 14)
    const r = new Float64Array([1, -1, 0, 2, 0, -2])
    // r has zero block means, so M⁻¹r = Π D⁻¹ r: by hand for the first block, t = (1/3, −1/4, 0), mean 1/36.
    expect(m(r)[0]).toBeCloseTo(1 / 3 - 1 / 36, 14)
    expect(() => jacobi(diag, 0, 1, 4)).toThrow(/not whole logit-shift blocks of 4/)
  })
})

// ------------------------------------------------------------------------ hand-made cases

/** Q = I − 2uuᵀ (u unit) and A = Q diag(d) Qᵀ, dense n × n. */
function reflected(d: number[], seed: number): { A: Float64Array; Q: Float64Array } {
  const n = d.length
  const rand = uniform(seed)
  const u = Float64Array.from({ length: n }, () => rand())
  const un = Math.hypot(...u)
  for (let i = 0; i < n; i++) u[i]! /= un
  const Q = new Float64Array(n * n)
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) Q[i * n + j] = (i === j ? 1 : 0) - 2 * u[i]! * u[j]!
  const A = new Float64Array(n * n)
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) A[i * n + j]! += Q[i * n + k]! * d[k]! * Q[j * n + k]!
  return { A, Q }
}

/** F(w) = ½ wᵀAw + bᵀw as a Curvature (∇F = Aw + b, ∇²F = A). */
function quadratic(A: Float64Array, b: Float64Array, dense: boolean): Curvature {
  const n = b.length
  return {
    kind: 'quadratic',
    size: n,
    value: () => ({ total: 0, lossK: 0, lossA: 0, regulariser: 0 }),
    gradient: (w) => matVec(A, n, w).map((x, i) => x + b[i]!),
    hessian: () => ({
      size: n,
      apply: (v) => matVec(A, n, v),
      method: 'dense test matrix',
      ...(dense ? { dense: () => Float64Array.from(A) } : {}),
    }),
    perExampleGradientNorms: () => new Float64Array(0),
  }
}

describe('newtonStep on an indefinite quadratic (hand-computed)', () => {
  const d = [-0.7, 0.05, 0.3, 1, 2.5, 4, 9, 0.2, 3.3, 6]
  const n = d.length
  const { A, Q } = reflected(d, 3)
  const rand = uniform(5)
  const b = Float64Array.from({ length: n }, () => rand())
  const w = Float64Array.from({ length: n }, () => rand())
  const lambda = 0.1
  // H_pd = Q diag(d + λ + 0.7) Qᵀ, so H_pd⁻¹g = Q diag(1/(d_k + 0.8)) Qᵀ g.
  const g = matVec(A, n, w).map((x, i) => x + b[i]!)
  const qg = new Float64Array(n) // Qᵀg
  for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) qg[k]! += Q[i * n + k]! * g[i]!
  const x = new Float64Array(n) // Q diag(1/(d_k + 0.8)) Qᵀg
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) x[i]! += (Q[i * n + k]! * qg[k]!) / (d[k]! + 0.8)
  const expected = w.map((wi, i) => wi - x[i]!)

  it.each([
    ['cholesky', true],
    ['cg', false],
  ] as const)('%s: shift = λ − λ_min, λ_min(H_pd) = λ, w⁻ as by hand', (method, dense) => {
    const step = newtonStep(w, quadratic(A, b, dense), { ...OPTS, lambda, method })
    expect(step.lambdaMin.value).toBeCloseTo(-0.7, method === 'cholesky' ? 12 : 8)
    expect(step.shift).toBeCloseTo(0.8, method === 'cholesky' ? 12 : 8)
    expect(relError(step.wMinus, expected)).toBeLessThan(1e-9)
    expect(step.solver.errorBound).toBeLessThan(1e-9)
  })

  it('a positive definite Hessian gets no shift; auto picks Cholesky only within denseLimit', () => {
    const pd = reflected([0.5, 1, 2, 3], 9).A
    const q = quadratic(pd, new Float64Array([1, -1, 2, 0.5]), true)
    const w0 = new Float64Array(4)
    expect(newtonStep(w0, q, { ...OPTS, method: 'auto', denseLimit: 4 }).solver.method).toBe('cholesky')
    const step = newtonStep(w0, q, { ...OPTS, method: 'auto', denseLimit: 3 })
    expect(step.solver.method).toBe('cg')
    expect(step.shift).toBe(0)
    // One step solves a quadratic: the gradient at w⁻ is zero.
    expect(Math.hypot(...q.gradient(step.wMinus))).toBeLessThan(1e-10)
  })

  it('refuses Cholesky without a dense Hessian and a non-positive λ', () => {
    expect(() => newtonStep(w, quadratic(A, b, false), { ...OPTS, method: 'cholesky' })).toThrow(
      /needs the dense Hessian.*use conjugate gradient/,
    )
    expect(() => newtonStep(w, quadratic(A, b, true), { ...OPTS, lambda: 0 })).toThrow(/λ must be positive/)
  })
})

describe('linalg', () => {
  it('Cholesky solves and names the failing pivot of a matrix that is not positive definite', () => {
    const { A } = reflected([1, 2, 3, 4, 5], 1)
    const b = new Float64Array([1, 2, 3, 4, 5])
    const x = choleskySolve(choleskyFactor(A, 5), 5, b)
    expect(relError(matVec(A, 5, x), b)).toBeLessThan(1e-13)
    expect(() => choleskyFactor(reflected([1, 2, -3, 4, 5], 1).A, 5)).toThrow(/not positive definite \(Cholesky pivot \d of 5/)
  })

  it('smallest eigenvalue: exact for dense, Lanczos with its residual for an operator', () => {
    const d = Array.from({ length: 40 }, (_, i) => 1 + i * 0.5)
    d[17] = -2.25
    const { A } = reflected(d, 4)
    expect(denseSmallestEigenvalue(A, 40)).toBeCloseTo(-2.25, 12)
    const l = lanczosSmallest((v) => matVec(A, 40, v), 40, { steps: 60 })
    expect(l.steps).toBeLessThanOrEqual(40)
    expect(l.value).toBeCloseTo(-2.25, 10)
    expect(l.residual).toBeLessThan(1e-8)
  })

  it('preconditioned CG with a diagonal M⁻¹ solves a badly scaled system in fewer iterations, and checks M⁻¹', () => {
    // A = S B S with B well conditioned and S spanning 10⁻³ … 1: Jacobi undoes S.
    const n = 30
    const { A: B } = reflected(
      Array.from({ length: n }, (_, i) => 1 + i / 10),
      8,
    )
    const s = Float64Array.from({ length: n }, (_, i) => 10 ** (-3 * (i / (n - 1))))
    const A = B.map((x, k) => x * s[Math.floor(k / n)]! * s[k % n]!)
    const b = Float64Array.from({ length: n }, (_, i) => Math.cos(i))
    const x = choleskySolve(choleskyFactor(A, n), n, b)
    const apply = (v: Float64Array) => matVec(A, n, v)
    const plain = conjugateGradient(apply, b, { tolerance: 1e-12, maxIterations: 1000 })
    const pcg = conjugateGradient(apply, b, {
      tolerance: 1e-12,
      maxIterations: 1000,
      preconditioner: Float64Array.from({ length: n }, (_, i) => 1 / A[i * n + i]!),
    })
    expect(relError(pcg.x, x)).toBeLessThan(1e-8)
    expect(pcg.converged).toBe(true)
    expect(pcg.iterations).toBeLessThan(plain.iterations / 2)
    expect(() => conjugateGradient(apply, b, { tolerance: 1e-12, maxIterations: 10, preconditioner: new Float64Array(n) })).toThrow(
      /entry 0 is 0: a diagonal M⁻¹ must be positive/,
    )
  })

  it('conjugate gradient reports iterations, residual and progress', () => {
    const { A } = reflected(
      Array.from({ length: 30 }, (_, i) => 1 + i),
      6,
    )
    const b = Float64Array.from({ length: 30 }, (_, i) => Math.sin(i))
    const seen: number[] = []
    const r = conjugateGradient((v) => matVec(A, 30, v), b, { tolerance: 1e-12, maxIterations: 100, onProgress: (it) => seen.push(it) })
    expect(r.converged).toBe(true)
    expect(r.iterations).toBe(seen.length)
    expect(r.residualNorm).toBeLessThan(1e-11 * Math.hypot(...b))
    expect(() =>
      conjugateGradient((v) => matVec(reflected([1, -1, 2], 2).A, 3, v), new Float64Array([1, 2, 3]), {
        tolerance: 1e-12,
        maxIterations: 10,
      }),
    ).toThrow(/not positive definite/)
  })
})
