// The certificate's arithmetic (src/engine/privacy/bounds.ts) on numbers worked out by hand.
import { describe, expect, it } from 'vitest'
import { epsilonFor, gaussianCaveats, gaussianSigma, mixed, sensitivity, tradeoffBound } from '../../../src/engine/privacy/bounds.js'
import type { CertificateConstant, CertificateConstants } from '../../../src/engine/privacy/types.js'

const k = (value: number): CertificateConstant => ({ value, provenance: 'assumed', method: 'test' })
function constants(o: { L_K: number; L_A: number; M_K: number; M_A: number; C: number; lambda: number; lambdaMin: number }): CertificateConstants {
  return {
    L_K: k(o.L_K), L_A: k(o.L_A), M_K: k(o.M_K), M_A: k(o.M_A), C: k(o.C), lambda: k(o.lambda), lambdaMin: k(o.lambdaMin),
    nForget: k(10), nRetain: k(100), parameters: k(7850), inputNorm: k(1),
  }
}

describe('sensitivity', () => {
  // θ = 0.5: L = 0.5·2 + 0.5·1 = 1.5, M = 0.5·3 + 0.5·1 = 2.
  const c = constants({ L_K: 2, L_A: 1, M_K: 3, M_A: 1, C: 2, lambda: 0.5, lambdaMin: -0.25 })

  it('mixes the constants with θ', () => {
    expect(mixed(c, 0.5)).toEqual({ L: 1.5, M: 2 })
    expect(mixed(c, 0.75)).toEqual({ L: 1.75, M: 2.5 })
  })

  it('non-convex: 2C(MC + λ)/(λ + λ_min) + the solver error', () => {
    // 2·2·(2·2 + 0.5)/(0.5 − 0.25) = 4·4.5/0.25 = 72; + 0.1 = 72.1
    const s = sensitivity(c, 0.5, { convex: false, solverErrorBound: 0.1 })
    expect(s.form).toBe('nonconvex')
    expect(s.value).toBeCloseTo(72.1, 12)
    expect(s.terms).toMatchObject({ newton: 72, solver: 0.1, M: 2, C: 2, lambda: 0.5, lambdaMin: -0.25 })
    expect(s.formula).toContain('2C(MC + λ)/(λ + λ_min)')
    expect(s.formula).toContain('72.1')
  })

  it('convex: 2C²M/λ + the solver error', () => {
    // 2·4·2/0.5 = 32
    const s = sensitivity(c, 0.5, { convex: true, solverErrorBound: 0 })
    expect(s).toMatchObject({ value: 32, form: 'convex' })
    expect(s.formula).toContain('= 32')
  })

  it('refuses λ + λ_min ≤ 0, naming the numbers', () => {
    const bad = constants({ L_K: 2, L_A: 1, M_K: 3, M_A: 1, C: 2, lambda: 0.5, lambdaMin: -0.75 })
    expect(() => sensitivity(bad, 0.5, { convex: false, solverErrorBound: 0 })).toThrow(/λ \+ λ_min = 0\.5 \+ -0\.75 = -0\.25 ≤ 0.*0\.75/)
    expect(() => sensitivity(c, 0.5, { convex: false, solverErrorBound: -1 })).toThrow(/error bound/)
  })
})

describe('the Gaussian mechanism', () => {
  // √(2 ln(1.25/1e-5)) = √(2 ln 125000) = √(2·11.736069) = 4.8448053
  it('σ = (Δ/ε)·√(2 ln(1.25/δ))', () => {
    expect(gaussianSigma(1, 1, 1e-5)).toBeCloseTo(4.8448053, 6)
    expect(gaussianSigma(3, 0.5, 1e-5)).toBeCloseTo(6 * 4.8448053, 5)
    expect(() => gaussianSigma(1, 0, 1e-5)).toThrow(/ε/)
    expect(() => gaussianSigma(1, 1, 1)).toThrow(/δ/)
  })

  it('epsilonFor inverts it', () => {
    expect(epsilonFor(2, 2 * 4.8448053, 1e-5)).toBeCloseTo(1, 6)
    for (const eps of [0.01, 0.3, 4]) expect(epsilonFor(7, gaussianSigma(7, eps, 1e-6), 1e-6)).toBeCloseTo(eps, 12)
  })

  it('warns that the classical calibration is proven for ε ≤ 1 only', () => {
    expect(gaussianCaveats(1)).toEqual([])
    const c = gaussianCaveats(2)
    expect(c).toHaveLength(1)
    expect(c[0]).toMatch(/ε = 2 > 1/)
  })
})

describe('tradeoffBound', () => {
  it('(L_A/(4M) + λC/(2M))·|λ − L − √disc| on hand numbers', () => {
    // θ = 0.5, L_K = L_A = 1 → L = 1; M_K = M_A = 0.01 → M = 0.01; λ = 10, C = 1.
    // λ − L = 9; disc = 81 − 4·0.5·1·0.01·(2 + 10) = 80.76; √80.76 = 8.9866567; |9 − 8.9866567| = 0.0133433
    // factor = 1/0.04 + 10/0.02 = 525 → 7.005193
    const t = tradeoffBound(constants({ L_K: 1, L_A: 1, M_K: 0.01, M_A: 0.01, C: 1, lambda: 10, lambdaMin: 0 }), 0.5)
    expect(t.value).toBeCloseTo(7.005193, 5)
    expect(t.note).toMatch(/paper/)
    expect(t.note).toContain('80.76')
  })

  it('is null, with the reason, when the discriminant is negative or M = 0', () => {
    // λ − L = 0.1 − 1 = −0.9; disc = 0.81 − 4·0.5·1·1·(2 + 0.1) = 0.81 − 4.2 = −3.39
    const neg = tradeoffBound(constants({ L_K: 1, L_A: 1, M_K: 1, M_A: 1, C: 1, lambda: 0.1, lambdaMin: 0 }), 0.5)
    expect(neg.value).toBeNull()
    expect(neg.note).toMatch(/disc .* = -3\.39 < 0/)
    const flat = tradeoffBound(constants({ L_K: 1, L_A: 1, M_K: 0, M_A: 0, C: 1, lambda: 10, lambdaMin: 0 }), 0.5)
    expect(flat.value).toBeNull()
    expect(flat.note).toMatch(/M = 0/)
  })
})
