// Can tfjs-backend-wasm run multi-threaded in Node 20? (A probe, not part of the benchmark.)
//
// tfjs 4.22 turns threads off in Node (flag WASM_HAS_MULTITHREAD_SUPPORT is false when IS_NODE,
// tfjs issue #3830), and its loader hands Emscripten the pthread worker script as a Blob URL, which
// Node's worker_threads cannot open. This probe forces the flag, writes the worker script to a
// temporary .cjs file and points the Blob URLs at files, then asks for N threads and reports what
// XNNPACK got and the matMul speed.
//   node --import tsx bench/forward/wasm-threads-probe.ts [threads]
import * as tf from '@tensorflow/tfjs-core'
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const mainJs = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js')
const { wasmWorkerContents } = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js') as {
  wasmWorkerContents: string
}
const workerJs = join(mkdtempSync(join(tmpdir(), 'tfjs-wasm-threads-')), 'worker.cjs')
// Inside the worker, the main script also arrives as a Blob: point it at the real file. (tfjs
// escapes newlines the same way before making its Blob.)
const prelude = `URL.createObjectURL = () => ${JSON.stringify(mainJs)}; URL.revokeObjectURL = () => {};\n`
writeFileSync(workerJs, prelude + wasmWorkerContents.replace(/\n/g, '\\n'))
const createObjectURL = URL.createObjectURL
URL.createObjectURL = ((blob: Blob) => (blob.type === 'application/javascript' ? workerJs : mainJs)) as typeof URL.createObjectURL

tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true)
setThreadsCount(Number(process.argv[2] ?? 2))
await tf.setBackend('wasm')
URL.createObjectURL = createObjectURL
const module = (tf.backend() as unknown as { wasm: { PThread?: { runningWorkers: unknown[]; unusedWorkers: unknown[] } } }).wasm
console.log(
  `threaded-simd module loaded: ${module.PThread !== undefined}; XNNPACK threads: ${getThreadsCount()}; ` +
    `pthread workers running ${module.PThread?.runningWorkers.length}, idle ${module.PThread?.unusedWorkers.length}`,
)
const [m, k, n] = [1024, 768, 3072]
const a = tf.randomNormal([m, k])
const b = tf.randomNormal([k, n])
tf.matMul(a, b).dispose()
const start = performance.now()
for (let i = 0; i < 5; i++) tf.matMul(a, b).dispose()
console.log(`matMul ${m}×${k}×${n}: ${((2 * m * k * n * 5) / ((performance.now() - start) / 1000) / 1e9).toFixed(1)} GFLOP/s`)
process.exit(0)
