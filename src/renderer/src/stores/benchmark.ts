// The backend benchmark (the `bench-backend` job): what its form accepts, the work it asks for,
// and starting it. The form's text stays in the page; the rules for reading it live here.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { BenchBackendConfig } from '../../../shared/api'
import { errorMessage } from '../lib/errors'
import { lengthBoundsOf, parseNumber, parseNumberList, ruleOf, type Parsed, type ParsedList } from '../lib/numbers'
import { useBackendStore } from './backend'

// The form's rules are BenchBackendConfig's (the schema the back end validates with): its bounds,
// its length limit and its defaults.
const SIZES = BenchBackendConfig.shape.sizes.unwrap()
export const SIZE_RULE = ruleOf(SIZES.element, 'matrix size')
export const REPEATS_RULE = ruleOf(BenchBackendConfig.shape.repeats, 'repeats')
export const MAX_SIZES = lengthBoundsOf(SIZES).max ?? Infinity
const DEFAULTS = BenchBackendConfig.parse({})
export const BENCH_DEFAULTS = { sizes: DEFAULTS.sizes.join(', '), repeats: String(DEFAULTS.repeats) } as const

/** Matrix sizes separated by commas, spaces or semicolons: each whole and in range (repeats dropped), at most MAX_SIZES. */
export function parseSizes(text: string): ParsedList {
  const sizes = parseNumberList(text, SIZE_RULE)
  if (sizes.ok && sizes.value.length > MAX_SIZES)
    return { ok: false, value: null, error: `At most ${MAX_SIZES} sizes (you entered ${sizes.value.length}).` }
  return sizes
}

export function parseRepeats(text: string): Parsed {
  return parseNumber(text, REPEATS_RULE)
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
