// The backend benchmark: times square matrix multiplies on the chosen compute backend and
// stores GFLOP/s per size (metric "gflops", step = matrix size). On wasm with the native kernels
// (src/engine/native.ts) that is OpenBLAS's sgemm; the log's first line names the kernel timed.
// Resumable: a checkpoint after each size lists the sizes done, and a resumed run skips them.
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { BenchBackendConfig } from '../shared/api.js'
import { tf } from '../engine/backend.js'
import { nativeKernelsReport } from '../engine/native.js'
import { defineJob, type JobContext } from './job.js'

const BenchCheckpoint = z.object({ completed: z.array(z.number().int()) })

export const benchBackendJob = defineJob('bench-backend', BenchBackendConfig, benchBackend)

async function benchBackend(ctx: JobContext<BenchBackendConfig>): Promise<void> {
  const { sizes, repeats } = ctx.config
  ctx.log('info', `matMul kernel: ${matMulKernel()}`)
  const completed = new Set<number>()
  if (ctx.resumeFrom) {
    const saved = BenchCheckpoint.parse(JSON.parse(readFileSync(ctx.resumeFrom.path, 'utf8')))
    for (const s of saved.completed) completed.add(s)
    ctx.log('info', `Resuming: ${completed.size} of ${sizes.length} sizes already measured.`)
  }
  const flopsOf = (n: number): number => 2 * n * n * n
  const totalFlops = sizes.reduce((acc, n) => acc + repeats * flopsOf(n), 0)
  let doneFlops = sizes.filter((n) => completed.has(n)).reduce((acc, n) => acc + repeats * flopsOf(n), 0)
  const total = sizes.length * repeats
  let done = completed.size * repeats
  const doneAtStart = done
  const started = performance.now()
  const flopsAtStart = doneFlops
  const report = (message: string, metrics: Record<string, number> = {}): void => {
    const secs = (performance.now() - started) / 1000
    const flopRate = secs > 0 ? (doneFlops - flopsAtStart) / secs : 0
    ctx.progress({
      unit: 'matmuls',
      done,
      total,
      perSecond: secs > 0 ? (done - doneAtStart) / secs : 0,
      etaSeconds: flopRate > 0 ? (totalFlops - doneFlops) / flopRate : null,
      message,
      metrics,
    })
  }

  for (const n of sizes) {
    if (completed.has(n)) continue
    const a = tf.randomNormal([n, n], 0, 1, 'float32', 1)
    const b = tf.randomNormal([n, n], 0, 1, 'float32', 2)
    try {
      tf.matMul(a, b).dispose() // warm-up: kernel set-up and memory allocation are not timed
      let elapsed = 0
      for (let r = 0; r < repeats; r++) {
        if (ctx.cancelled()) return
        const t0 = performance.now()
        const c = tf.matMul(a, b)
        await c.data() // forces the work to finish on async backends
        elapsed += performance.now() - t0
        c.dispose()
        done += 1
        doneFlops += flopsOf(n)
        report(`${n}×${n} matmul ${r + 1}/${repeats}`)
      }
      const gflops = (flopsOf(n) * repeats) / (elapsed / 1000) / 1e9
      completed.add(n)
      // The size's metrics go in with the checkpoint that marks it done: a crash between two
      // separate writes left them without it, and the resumed run measured the size again.
      const metrics = { gflops, ms_per_matmul: elapsed / repeats }
      ctx.checkpoint(n, new TextEncoder().encode(JSON.stringify({ completed: [...completed] })), 'bench.json', metrics)
      ctx.log('info', `${n}×${n}: ${gflops.toFixed(2)} GFLOP/s`)
      report(`${n}×${n}: ${gflops.toFixed(2)} GFLOP/s`, { gflops })
    } finally {
      a.dispose()
      b.dispose()
    }
  }
}

/** Which matMul the numbers measure: the native one (OpenBLAS, its core type and threads) or the backend's own. */
export function matMulKernel(): string {
  const native = nativeKernelsReport()
  if (tf.getBackend() === 'wasm' && native && native.kernels.includes('BatchMatMul')) {
    const spin = native.threadTimeout === null ? 'default spin' : `OPENBLAS_THREAD_TIMEOUT=${native.threadTimeout}`
    return `native OpenBLAS sgemm (${native.corename}, ${native.threads} threads from ${native.threadsFrom}, ${spin})`
  }
  return `${tf.getBackend()} backend's own${native?.reason ? ` (no native kernels: ${native.reason})` : ''}`
}
