// Shared by the sparse-layer tests: fixture reading and a relative closeness check.
import { join } from 'node:path'
import { expect } from 'vitest'
import { SafetensorsFile } from '../../../src/engine/safetensors.js'

export const LAYER_FIXTURES = join(import.meta.dirname, '../../fixtures/layers')

export interface Fixture {
  metadata: Record<string, string>
  names: string[]
  get(name: string): { shape: number[]; data: Float32Array }
}

/** A fixture file `name`.safetensors from `dir` (the layer fixtures unless told). */
export function readFixture(name: string, dir = LAYER_FIXTURES): Fixture {
  const file = SafetensorsFile.open(join(dir, `${name}.safetensors`))
  try {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {}
    for (const [n, info] of file.tensors) out[n] = { shape: info.shape, data: file.readFloat32(n) }
    return {
      metadata: file.metadata,
      names: Object.keys(out),
      get(n) {
        const t = out[n]
        if (!t) throw new Error(`fixture ${name} has no tensor ${n}`)
        return t
      },
    }
  } finally {
    file.close()
  }
}

/** max |actual − expected| ≤ rel · max |expected| (plus a tiny floor for all-zero tensors). */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-5, what = ''): void {
  expect(actual.length, `${what} length`).toBe(expected.length)
  let scale = 0
  let worst = 0
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!))
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!))
  }
  expect(worst, `${what}: max abs error ${worst} vs scale ${scale}`).toBeLessThanOrEqual(rel * Math.max(scale, 1e-6))
}

/** A small deterministic PRNG (mulberry32) for test data, uniform in [lo, hi). */
export function uniform(seed: number): (lo?: number, hi?: number) => number {
  let s = seed >>> 0
  return (lo = -1, hi = 1) => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296
    return lo + (hi - lo) * r
  }
}
