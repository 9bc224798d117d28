// What the native-kernel tests (test/unit/native-layers.test.ts, native-sparse.test.ts) share:
// seeded float32 data held in float64, an element-wise closeness check that names the worst
// element, running a computation on the stock wasm kernels or at a set thread count, and float64
// central differences for checking hand-derived gradients. Call after initBackend().
import { expect } from 'vitest'
import { tf } from '../../src/engine/backend.js'
import { nativeAddon, nativeKernelsReport, setNativeKernels } from '../../src/engine/native.js'

/** Whether the native kernels are in, and the describe() label saying which path is tested. */
export function nativeMode(): { active: boolean; mode: string } {
  const active = (nativeKernelsReport()?.kernels.length ?? 0) > 0
  return { active, mode: active ? 'native kernels' : `tf-ops path (${nativeKernelsReport()?.reason ?? 'no report'})` }
}

/** Native kernels on and the configured thread count back (for afterAll). */
export function restoreNative(): void {
  if (!nativeMode().active) return
  setNativeKernels(true)
  nativeAddon()!.setThreads(nativeKernelsReport()!.threads ?? 1)
}

/** Seeded float32 values in [-scale, scale), held in float64. */
export function randomArray(n: number, next: () => number, scale = 1): Float64Array {
  const f = new Float32Array(n)
  for (let i = 0; i < n; i++) f[i] = (next() * 2 - 1) * scale
  return Float64Array.from(f)
}

export const t32 = (data: Float64Array, shape: number[]): tf.Tensor => tf.tensor(Float32Array.from(data), shape, 'float32')

/** max |got − want| ≤ tol · (1 + max |want|), element by element reported on failure. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  expect(got.length, what).toBe(want.length)
  let scale = 0
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!))
  let worst = -1
  let err = 0
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!)
    if (!(e <= err)) {
      err = e
      worst = i
    }
  }
  expect(err, `${what}: element ${worst} got ${got[worst]}, want ${want[worst]} (max |want| ${scale})`).toBeLessThanOrEqual(
    tol * (1 + scale),
  )
}

/** f computed on the stock wasm kernels (native ones off for its duration). */
export function withStock<T>(f: () => T): T {
  setNativeKernels(false)
  try {
    return f()
  } finally {
    setNativeKernels(true)
  }
}

/** f computed with the native kernels at `threads` threads, then the configured count again. */
export function atThreads<T>(threads: number, f: () => T): T {
  nativeAddon()!.setThreads(threads)
  try {
    return f()
  } finally {
    nativeAddon()!.setThreads(nativeKernelsReport()!.threads ?? 1)
  }
}

/** Central differences of a float64 function of one array, at every element. */
export function numericGrad(f: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length)
  for (let i = 0; i < x.length; i++) {
    const keep = x[i]!
    x[i] = keep + h
    const up = f(x)
    x[i] = keep - h
    const down = f(x)
    x[i] = keep
    g[i] = (up - down) / (2 * h)
  }
  return g
}
