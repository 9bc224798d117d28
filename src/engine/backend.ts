// Chooses the compute backend once per process (and per worker thread):
// tensorflow (tfjs-node-gpu, CUDA) → wasm with native CPU kernels (src/engine/native.ts) → plain
// wasm → cpu, or the one the user forces with --backend / MXD_BACKEND. All engine code is written
// against @tensorflow/tfjs-core, so it runs unchanged on each; the report says which one is in
// use, which kernels are native, and why the better ones were not.
import * as tf from '@tensorflow/tfjs-core'
// tfjs-core alone registers no gradients in Node (its gradient modules ship only as ESM files
// that Node cannot load); the @tensorflow/tfjs bundle registers all of them on this same core.
import '@tensorflow/tfjs'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs-backend-wasm'
import { createRequire } from 'node:module'
import type { BackendName } from '../shared/api.js'
import { installNativeKernels, type NativeKernelsReport } from './native.js'

export interface BackendReport {
  backend: BackendName
  notes: string[]
  tfjsVersion: string
  /** The wasm backend's kernels that run natively (OpenBLAS), or why none do. */
  native: NativeKernelsReport
}

const ORDER: BackendName[] = ['tensorflow', 'wasm', 'cpu']
const require = createRequire(import.meta.url)
let chosen: BackendReport | undefined

/** tfjs-node-gpu registers the "tensorflow" backend when its native library loads. */
function tryLoadTensorflow(): string | null {
  try {
    require.resolve('@tensorflow/tfjs-node-gpu')
  } catch {
    return 'tfjs-node-gpu not installed (optional; it needs CUDA 11.2 and cuDNN 8.1, and downloads libtensorflow at install)'
  }
  try {
    require('@tensorflow/tfjs-node-gpu')
    return null
  } catch (err) {
    return `tfjs-node-gpu is installed but failed to load: ${(err as Error).message.split('\n')[0]}`
  }
}

export function parseBackendName(value: string | undefined): BackendName | undefined {
  if (value === undefined || value === '' || value === 'auto') return undefined
  if ((ORDER as string[]).includes(value)) return value as BackendName
  throw new Error(`Unknown backend "${value}": choose one of ${ORDER.join(', ')} or auto.`)
}

/**
 * Initialises the best available backend (or `forced`). Idempotent: later calls return the
 * first choice, so every module in a process computes on the same backend.
 */
export async function initBackend(forced?: BackendName): Promise<BackendReport> {
  if (chosen) return chosen
  const want = forced ?? parseBackendName(process.env.MXD_BACKEND)
  const notes: string[] = []
  const candidates = want ? [want] : ORDER
  for (const name of candidates) {
    if (name === 'tensorflow') {
      const why = tryLoadTensorflow()
      if (why) {
        notes.push(why)
        continue
      }
    }
    try {
      if (await tf.setBackend(name)) {
        await tf.ready()
        if (name === 'cpu' && !want) notes.push('wasm backend failed to start; the cpu backend is about 40× slower')
        // Native kernels replace some of wasm's, so they exist only on that backend.
        const native: NativeKernelsReport =
          name === 'wasm'
            ? installNativeKernels()
            : {
                kernels: [],
                reason: `they run under the wasm backend, not ${name}`,
                blas: null,
                corename: null,
                threads: null,
                threadsFrom: null,
                threadTimeout: null,
              }
        if (native.reason && name === 'wasm') notes.push(`native CPU kernels: ${native.reason}`)
        chosen = { backend: name, notes, tfjsVersion: tf.version_core, native }
        return chosen
      }
      notes.push(`${name} backend did not initialise`)
    } catch (err) {
      notes.push(`${name} backend failed: ${(err as Error).message}`)
    }
  }
  throw new Error(`No compute backend could start (${notes.join('; ')}).`)
}

export { tf }
