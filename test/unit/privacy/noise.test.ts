// The certificate's noise (src/engine/privacy/noise.ts) against an independent Python
// reimplementation of the same generator (scripts/fixtures/make_privacy_noise_fixtures.py), and
// its sample moments.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { gaussianNoise, xoshiro128ss } from '../../../src/engine/privacy/noise.js'

interface Case { seed: number; raw: number[]; normals: number[] }
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/privacy/noise.json'), 'utf8')) as { cases: Case[] }

describe('gaussianNoise', () => {
  it('reproduces the Python reimplementation: raw 32-bit outputs exactly, normals to 1e-14', () => {
    expect(fixture.cases.length).toBe(4)
    for (const c of fixture.cases) {
      const next = xoshiro128ss(c.seed)
      expect(c.raw.map(() => next())).toEqual(c.raw)
      const z = gaussianNoise(c.seed, c.normals.length)
      c.normals.forEach((want, i) => expect(Math.abs(z[i]! - want)).toBeLessThan(1e-14 * Math.max(1, Math.abs(want))))
    }
  })

  it('is a function of the seed alone; a prefix of a longer draw; different seeds differ', () => {
    const a = gaussianNoise(7, 1001)
    expect(gaussianNoise(7, 1001)).toEqual(a)
    expect(gaussianNoise(7, 10)).toEqual(a.slice(0, 10))
    expect(gaussianNoise(8, 10)).not.toEqual(a.slice(0, 10))
    expect(() => gaussianNoise(-1, 3)).toThrow(/seed/)
  })

  it('has standard normal moments (n = 400,000, tolerances ~5 standard errors)', () => {
    const n = 400_000
    const z = gaussianNoise(12345, n)
    let m1 = 0, m2 = 0, m3 = 0, m4 = 0, beyond3 = 0
    for (const x of z) {
      m1 += x; m2 += x * x; m3 += x ** 3; m4 += x ** 4
      if (Math.abs(x) > 3) beyond3++
    }
    m1 /= n; m2 /= n; m3 /= n; m4 /= n
    expect(Math.abs(m1)).toBeLessThan(5 / Math.sqrt(n))
    expect(Math.abs(m2 - 1)).toBeLessThan(5 * Math.sqrt(2 / n))
    expect(Math.abs(m3)).toBeLessThan(5 * Math.sqrt(15 / n))
    expect(Math.abs(m4 - 3)).toBeLessThan(5 * Math.sqrt(96 / n))
    // P(|Z| > 3) = 0.0026998
    expect(Math.abs(beyond3 / n - 0.0026998)).toBeLessThan(5 * Math.sqrt(0.0027 / n))
  })
})
