// The float64 linear algebra of the Newton step (newton.ts), on plain Float64Arrays: dense
// matrices are n × n row-major, operators are functions v ↦ A v. Small and exact where it can
// be: Cholesky for solves and positive-definiteness, conjugate gradient for operators, and the
// smallest eigenvalue either exactly (dense: Householder tridiagonalisation, then bisection on
// the Sturm sequence) or by Lanczos with full reorthogonalisation (operators), whose Ritz value
// comes with its residual ‖A y − θ y‖.

export type Operator = (v: Float64Array) => Float64Array

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!
  return s
}

export const norm = (a: ArrayLike<number>): number => Math.sqrt(dot(a, a))

/** A x for a dense n × n matrix. */
export function matVec(A: Float64Array, n: number, x: Float64Array): Float64Array {
  const y = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    let s = 0
    const r = i * n
    for (let j = 0; j < n; j++) s += A[r + j]! * x[j]!
    y[i] = s
  }
  return y
}

/** max |A_ij − A_ji| over max |A_ij| (0 for a symmetric matrix). */
export function asymmetry(A: Float64Array, n: number): number {
  let worst = 0
  let scale = 0
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      scale = Math.max(scale, Math.abs(A[i * n + j]!))
      if (j > i) worst = Math.max(worst, Math.abs(A[i * n + j]! - A[j * n + i]!))
    }
  }
  return scale === 0 ? 0 : worst / scale
}

/** A ← (A + Aᵀ)/2 in place. */
export function symmetrize(A: Float64Array, n: number): Float64Array {
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const m = (A[i * n + j]! + A[j * n + i]!) / 2
      A[i * n + j] = m
      A[j * n + i] = m
    }
  }
  return A
}

/** The Cholesky factor L (lower, row-major) of a symmetric positive definite A, or an error naming the failing pivot. */
export function choleskyFactor(A: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n)
  for (let j = 0; j < n; j++) {
    let d = A[j * n + j]!
    for (let k = 0; k < j; k++) d -= L[j * n + k]! ** 2
    if (!(d > 0))
      throw new Error(
        `the matrix is not positive definite (Cholesky pivot ${j} of ${n} is ${d.toExponential(3)}): shift it by more than −λ_min`,
      )
    const ljj = Math.sqrt(d)
    L[j * n + j] = ljj
    for (let i = j + 1; i < n; i++) {
      let s = A[i * n + j]!
      const ri = i * n
      const rj = j * n
      for (let k = 0; k < j; k++) s -= L[ri + k]! * L[rj + k]!
      L[ri + j] = s / ljj
    }
  }
  return L
}

/** x with L Lᵀ x = b. */
export function choleskySolve(L: Float64Array, n: number, b: Float64Array): Float64Array {
  const y = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    let s = b[i]!
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * y[k]!
    y[i] = s / L[i * n + i]!
  }
  const x = new Float64Array(n)
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * x[k]!
    x[i] = s / L[i * n + i]!
  }
  return x
}

export interface CgResult {
  x: Float64Array
  iterations: number
  /** ‖A x − b‖, recomputed from x (not the recurrence's estimate). */
  residualNorm: number
  converged: boolean
}

/**
 * Conjugate gradient for A x = b, A symmetric positive definite, from x = 0, until
 * ‖r‖ ≤ tolerance·‖b‖ or maxIterations. With `preconditioner` (M⁻¹ for some symmetric positive
 * definite M ≈ A: its diagonal, e.g. Jacobi's 1/A_ii, or r ↦ M⁻¹r) it is preconditioned CG: the
 * same Krylov recurrence on M⁻¹A, which converges in fewer steps when M⁻¹A is better conditioned
 * than A. The stopping test is on the true residual ‖r‖ either way, so tolerances mean the same.
 */
export function conjugateGradient(
  apply: Operator,
  b: Float64Array,
  opts: {
    tolerance: number
    maxIterations: number
    preconditioner?: Float64Array | Operator
    onProgress?: (iteration: number, relativeResidual: number) => void
  },
): CgResult {
  const n = b.length
  const m = opts.preconditioner
  if (m instanceof Float64Array) {
    if (m.length !== n) throw new Error(`the preconditioner has ${m.length} entries, the system ${n}`)
    const bad = m.findIndex((x) => !(x > 0 && Number.isFinite(x)))
    if (bad >= 0) throw new Error(`the preconditioner's entry ${bad} is ${m[bad]}: a diagonal M⁻¹ must be positive and finite`)
  }
  const precondition = (r: Float64Array): Float64Array => (m instanceof Float64Array ? r.map((ri, i) => m[i]! * ri) : m!(r))
  const x = new Float64Array(n)
  const r = Float64Array.from(b)
  let z = m ? precondition(r) : r
  const p = Float64Array.from(z)
  const bNorm = norm(b)
  let rz = dot(r, z)
  let rr = m ? dot(r, r) : rz
  let iterations = 0
  const target = opts.tolerance * bNorm
  while (iterations < opts.maxIterations && Math.sqrt(rr) > target) {
    const Ap = apply(p)
    const pAp = dot(p, Ap)
    if (!(pAp > 0))
      throw new Error(
        `conjugate gradient met a direction of non-positive curvature (pᵀAp = ${pAp.toExponential(3)}): the operator is not positive definite`,
      )
    const alpha = rz / pAp
    for (let i = 0; i < n; i++) {
      x[i]! += alpha * p[i]!
      r[i]! -= alpha * Ap[i]!
    }
    if (m) z = precondition(r)
    const rzNew = dot(r, z)
    const beta = rzNew / rz
    rz = rzNew
    rr = m ? dot(r, r) : rz
    for (let i = 0; i < n; i++) p[i] = z[i]! + beta * p[i]!
    iterations++
    opts.onProgress?.(iterations, bNorm === 0 ? 0 : Math.sqrt(rr) / bNorm)
  }
  const Ax = apply(x)
  let res = 0
  for (let i = 0; i < n; i++) res += (Ax[i]! - b[i]!) ** 2
  const residualNorm = Math.sqrt(res)
  return { x, iterations, residualNorm, converged: Math.sqrt(rr) <= target }
}

// ------------------------------------------------------------------------ eigenvalues

/** How many eigenvalues of the symmetric tridiagonal (alpha, beta) are < x (Sturm sequence). */
function sturmCount(alpha: Float64Array, beta: Float64Array, x: number): number {
  let count = 0
  let d = 1
  for (let i = 0; i < alpha.length; i++) {
    const b2 = i > 0 ? beta[i - 1]! ** 2 : 0
    d = alpha[i]! - x - (i > 0 ? b2 / d : 0)
    if (d === 0) d = -Number.EPSILON * (Math.abs(x) + 1)
    if (d < 0) count++
  }
  return count
}

/** The smallest eigenvalue of a symmetric tridiagonal matrix, by bisection to machine precision. */
export function tridiagonalSmallest(alpha: Float64Array, beta: Float64Array): number {
  // Gershgorin bounds every eigenvalue.
  let lo = Infinity
  let hi = -Infinity
  for (let i = 0; i < alpha.length; i++) {
    const r = (i > 0 ? Math.abs(beta[i - 1]!) : 0) + (i < alpha.length - 1 ? Math.abs(beta[i]!) : 0)
    lo = Math.min(lo, alpha[i]! - r)
    hi = Math.max(hi, alpha[i]! + r)
  }
  for (let it = 0; it < 200 && hi - lo > 2 * Number.EPSILON * Math.max(Math.abs(lo), Math.abs(hi), 1e-300); it++) {
    const mid = (lo + hi) / 2
    if (mid === lo || mid === hi) break
    if (sturmCount(alpha, beta, mid) >= 1) hi = mid
    else lo = mid
  }
  return (lo + hi) / 2
}

/**
 * The smallest eigenvalue of a dense symmetric matrix, exactly (to rounding): Householder
 * reduction to tridiagonal form (O(4n³/3)), then bisection. A is not modified.
 */
export function denseSmallestEigenvalue(A: Float64Array, n: number): number {
  const a = Float64Array.from(A)
  const v = new Float64Array(n)
  const p = new Float64Array(n)
  for (let k = 0; k < n - 2; k++) {
    // The reflector I − 2vvᵀ that maps a[k+1:, k] onto a multiple of e_1.
    let xnorm = 0
    for (let i = k + 1; i < n; i++) xnorm += a[i * n + k]! ** 2
    xnorm = Math.sqrt(xnorm)
    if (xnorm === 0) continue
    const x0 = a[(k + 1) * n + k]!
    const alpha = x0 > 0 ? -xnorm : xnorm
    v.fill(0)
    for (let i = k + 1; i < n; i++) v[i] = a[i * n + k]!
    v[k + 1]! -= alpha
    const vnorm = norm(v)
    if (vnorm === 0) continue
    for (let i = k + 1; i < n; i++) v[i]! /= vnorm
    // A ← A − 2 v qᵀ − 2 q vᵀ with p = A v, q = p − (vᵀp) v (on the trailing block, rows/cols > k).
    for (let i = k + 1; i < n; i++) {
      let s = 0
      for (let j = k + 1; j < n; j++) s += a[i * n + j]! * v[j]!
      p[i] = s
    }
    let vp = 0
    for (let i = k + 1; i < n; i++) vp += v[i]! * p[i]!
    for (let i = k + 1; i < n; i++) p[i]! -= vp * v[i]!
    for (let i = k + 1; i < n; i++) {
      const vi = 2 * v[i]!
      const qi = 2 * p[i]!
      for (let j = k + 1; j < n; j++) a[i * n + j]! -= vi * p[j]! + qi * v[j]!
    }
    a[(k + 1) * n + k] = alpha
    a[k * n + k + 1] = alpha
  }
  const diag = new Float64Array(n)
  const off = new Float64Array(Math.max(0, n - 1))
  for (let i = 0; i < n; i++) diag[i] = a[i * n + i]!
  for (let i = 0; i < n - 1; i++) off[i] = a[(i + 1) * n + i]!
  return tridiagonalSmallest(diag, off)
}

export interface LanczosResult {
  value: number
  /** ‖A y − θ y‖ of the unit Ritz vector y: some eigenvalue of A lies within it of θ. */
  residual: number
  steps: number
}

/**
 * The smallest eigenvalue of a symmetric operator by `steps` Lanczos steps with full
 * reorthogonalisation (twice, classical Gram-Schmidt) from a fixed pseudo-random start. The
 * smallest Ritz value θ is ≥ λ_min (it approaches from above); the residual is computed with one
 * more application of A to the Ritz vector.
 */
export function lanczosSmallest(
  apply: Operator,
  n: number,
  opts: { steps: number; seed?: number; onStep?: (step: number, steps: number) => void },
): LanczosResult {
  const m = Math.min(n, opts.steps)
  const Q: Float64Array[] = []
  const alpha: number[] = []
  const beta: number[] = []
  let q = new Float64Array(n)
  let s = (opts.seed ?? 12345) >>> 0
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    q[i] = s / 4294967296 - 0.5
  }
  const qn = norm(q)
  for (let i = 0; i < n; i++) q[i]! /= qn
  for (let j = 0; j < m; j++) {
    Q.push(q)
    const w = apply(q)
    const a = dot(q, w)
    alpha.push(a)
    for (let pass = 0; pass < 2; pass++) {
      for (const u of Q) {
        const c = dot(u, w)
        for (let i = 0; i < n; i++) w[i]! -= c * u[i]!
      }
    }
    const b = norm(w)
    opts.onStep?.(j + 1, m)
    if (j === m - 1) break
    // An invariant subspace: the Ritz values so far are exact eigenvalues.
    if (b <= 1e-12 * Math.max(Math.abs(a), 1e-300)) break
    beta.push(b)
    q = new Float64Array(n)
    for (let i = 0; i < n; i++) q[i] = w[i]! / b
  }
  const k = alpha.length
  const T = { a: Float64Array.from(alpha), b: Float64Array.from(beta.slice(0, k - 1)) }
  const theta = tridiagonalSmallest(T.a, T.b)
  const sVec = tridiagonalEigenvector(T.a, T.b, theta)
  const y = new Float64Array(n)
  for (let j = 0; j < k; j++) for (let i = 0; i < n; i++) y[i]! += sVec[j]! * Q[j]![i]!
  const yn = norm(y)
  for (let i = 0; i < n; i++) y[i]! /= yn
  const Ay = apply(y)
  let r = 0
  for (let i = 0; i < n; i++) r += (Ay[i]! - theta * y[i]!) ** 2
  return { value: theta, residual: Math.sqrt(r), steps: k }
}

/**
 * The unit eigenvector of the tridiagonal (alpha, beta) for its smallest eigenvalue θ: inverse
 * iteration with T − σI, σ just below θ, which is positive definite, so the LDLᵀ (Thomas)
 * solve is stable.
 */
function tridiagonalEigenvector(alpha: Float64Array, beta: Float64Array, theta: number): Float64Array {
  const k = alpha.length
  let scale = 0
  for (let i = 0; i < k; i++)
    scale = Math.max(scale, Math.abs(alpha[i]!) + (i < k - 1 ? Math.abs(beta[i]!) : 0) + (i > 0 ? Math.abs(beta[i - 1]!) : 0))
  const sigma = theta - 1e-10 * Math.max(scale, 1e-300)
  let x = new Float64Array(k).fill(1 / Math.sqrt(k))
  const d = new Float64Array(k)
  const l = new Float64Array(k)
  for (let i = 0; i < k; i++) {
    d[i] = alpha[i]! - sigma - (i > 0 ? l[i - 1]! * l[i - 1]! * d[i - 1]! : 0)
    if (i < k - 1) l[i] = beta[i]! / d[i]!
  }
  for (let it = 0; it < 3; it++) {
    const y = Float64Array.from(x)
    for (let i = 1; i < k; i++) y[i]! -= l[i - 1]! * y[i - 1]!
    for (let i = 0; i < k; i++) y[i]! /= d[i]!
    for (let i = k - 2; i >= 0; i--) y[i]! -= l[i]! * y[i + 1]!
    const yn = norm(y)
    for (let i = 0; i < k; i++) y[i]! /= yn
    x = y
  }
  return x
}
