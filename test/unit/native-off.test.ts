// With MXD_NATIVE=0 the app computes on plain wasm exactly as without the addon: no native kernel
// is registered, the report says why, and matMuls still give the right answer (checked against a
// float64 reference computed here). This is the configuration of a machine without OpenBLAS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../src/engine/backend.js'
import { nativeAddon } from '../../src/engine/native.js'

// Set before the first initBackend of this file's process; every test file gets its own module
// state, so other files are unaffected. Restored for tidiness.
const before = process.env.MXD_NATIVE
process.env.MXD_NATIVE = '0'
afterAll(() => {
  if (before === undefined) delete process.env.MXD_NATIVE
  else process.env.MXD_NATIVE = before
})

describe('MXD_NATIVE=0', () => {
  let report: Awaited<ReturnType<typeof initBackend>>
  beforeAll(async () => {
    report = await initBackend()
  })

  it('registers no native kernel and says why', () => {
    expect(report.backend).toBe('wasm')
    expect(report.native.kernels).toEqual([])
    expect(report.native.reason).toBe('turned off by MXD_NATIVE=0')
    expect(report.notes).toContain('native CPU kernels: turned off by MXD_NATIVE=0')
    expect(nativeAddon()).toBeNull()
  })

  it('still multiplies correctly on the stock wasm kernels', () => {
    const a = [1.5, -2, 0.25, 3, 4, -1] // 2×3
    const b = [2, -1, 0.5, 1, -3, 2] // 3×2
    const want: number[] = []
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 2; j++) {
        let s = 0
        for (let p = 0; p < 3; p++) s += a[i * 3 + p]! * b[p * 2 + j]!
        want.push(s + 0.5)
      }
    const y = tf.fused.matMul({ a: tf.tensor2d(a, [2, 3]), b: tf.tensor2d(b, [3, 2]), bias: tf.tensor1d([0.5, 0.5]) })
    const got = Array.from(y.dataSync())
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5))
  })
})
