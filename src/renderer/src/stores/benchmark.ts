// The backend benchmark (the `bench-backend` job): what its form accepts, the work it asks for,
// and starting it. The form's text stays in the page; the rules for reading it live here.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { errorMessage } from '../lib/errors'
import { useBackendStore } from './backend'

// Limits mirror the back end's BenchBackendConfig; it validates again and its message wins.
export const BENCH_LIMITS = { minSize: 8, maxSize: 4096, maxSizes: 16, maxRepeats: 1000 } as const
export const BENCH_DEFAULTS = { sizes: '128, 256, 512, 1024', repeats: '5' } as const

/**
 * A whole number typed as digits only, else null. Kept here, small and alone, so the shared
 * number parser (lib/numbers.ts) can take its place in one line.
 */
export function parseWholeNumber(text: string): number | null {
  const t = text.trim()
  return /^\d+$/.test(t) ? Number(t) : null
}

export type Parsed<T> = { value: T; error: null } | { value: null; error: string }

/** Matrix sizes separated by commas, spaces or semicolons: each whole, in range, once. */
export function parseSizes(text: string): Parsed<number[]> {
  const { minSize, maxSize, maxSizes } = BENCH_LIMITS
  const parts = text.split(/[\s,;]+/).filter(Boolean)
  if (parts.length === 0) return { value: null, error: 'Enter at least one matrix size.' }
  const sizes: number[] = []
  for (const p of parts) {
    const n = parseWholeNumber(p)
    if (n === null) return { value: null, error: `“${p}” is not a whole number.` }
    if (n < minSize || n > maxSize) return { value: null, error: `${n} is out of range: sizes go from ${minSize} to ${maxSize}.` }
    sizes.push(n)
  }
  if (sizes.length > maxSizes) return { value: null, error: `At most ${maxSizes} sizes (you entered ${sizes.length}).` }
  if (new Set(sizes).size !== sizes.length) return { value: null, error: 'Each size may appear only once.' }
  return { value: sizes, error: null }
}

export function parseRepeats(text: string): Parsed<number> {
  const r = parseWholeNumber(text)
  if (r === null) return { value: null, error: 'Repeats must be a whole number.' }
  if (r < 1 || r > BENCH_LIMITS.maxRepeats) return { value: null, error: `Repeats go from 1 to ${BENCH_LIMITS.maxRepeats}.` }
  return { value: r, error: null }
}

/** The run's floating-point work in GFLOP: 2n³ per multiply, `repeats` timed multiplies per size. */
export function benchGflop(sizes: number[], repeats: number): number {
  return sizes.reduce((acc, n) => acc + 2 * n ** 3 * repeats, 0) / 1e9
}

export const useBenchmarkStore = defineStore('benchmark', () => {
  const backend = useBackendStore()
  const starting = ref(false)
  /** The back end's refusal of the last start, in its own words. */
  const serverError = ref<string | null>(null)

  /** Queues a benchmark; the new run's id, or null when the back end refused (see serverError). */
  async function start(sizes: number[], repeats: number): Promise<number | null> {
    starting.value = true
    serverError.value = null
    try {
      return (await backend.call('bench.start', { sizes, repeats })).runId
    } catch (err) {
      serverError.value = errorMessage(err)
      return null
    } finally {
      starting.value = false
    }
  }

  return { starting, serverError, start }
})
