// Our trainer's step at a given MxD shape: trainStep (forward, paper loss, hand-written backward,
// gradient projection, AdamW, renormalisation, metric read-backs), the exact code the convert job
// runs, on random activations. Prints one JSON line: tokens/s (CPU time, best and median of the
// timed steps), achieved GFLOP/s and peak RSS. Used by run.sh.
//   node --import tsx bench/mxd-train/trainer-step.ts [--batch 1024] [--steps 3] [--d 768 --hidden 3072 --experts 21490 --k 32]
import { trainStep } from '../../src/jobs/convert/step.js'
import { initBackend, tf } from '../../src/engine/backend.js'
import { MxDLayer } from '../../src/engine/layers/mxd.js'
import { AdamW } from '../../src/engine/optim/adamw.js'
import { trainFlopsPerToken } from './flops.js'

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}

const [batch, steps, d, H, N, K] = [arg('batch', 1024), arg('steps', 3), arg('d', 768), arg('hidden', 3072), arg('experts', 21_490), arg('k', 32)]
const report = await initBackend()
const layer = MxDLayer.create({ dIn: d, dOut: d, hidden: H, experts: N, k: K, seed: 1 })
// D = 0 at init zeroes most gradients; a random D makes the step representative.
tf.tidy(() => layer.params.D!.assign(tf.randomNormal([H, d], 0, 0.02, 'float32', 2)))
const opt = new AdamW(layer.params, { lr: 4e-4, weightDecay: 0 })
const rand = (n: number, seed: number): Float32Array => tf.tidy(() => tf.randomNormal([n], 0, 1, 'float32', seed).dataSync() as Float32Array)
const x = rand(batch * d, 3)
const y = rand(batch * d, 4)
const times: number[] = []
const walls: number[] = []
for (let s = 0; s <= steps; s++) {
  // CPU time of this process, all threads (wasm's one, OpenBLAS's when the native kernels run):
  // robust when other processes share the cores. Wall time is kept beside it, since with
  // several threads tokens per wall-second is what a user waits for.
  const c0 = process.cpuUsage()
  const w0 = performance.now()
  trainStep(layer, opt, { x, y }, batch, d, 4e-4)
  const c = process.cpuUsage(c0)
  if (s > 0) {
    times.push((c.user + c.system) / 1e6) // step 0 warms up (wasm memory growth)
    walls.push((performance.now() - w0) / 1000)
  }
}
times.sort((a, b) => a - b)
walls.sort((a, b) => a - b)
const best = times[0]!
const median = times[Math.floor(times.length / 2)]!
const native = report.native.kernels.length > 0 ? `+ native OpenBLAS sgemm, ${report.native.threads} thread(s)` : '1 thread'
const flops = trainFlopsPerToken(d, H, N, K)
console.log(
  JSON.stringify({
    impl: `ours (tfjs ${report.backend} ${native})`,
    batch,
    tokens_per_s: batch / best,
    tokens_per_s_median: batch / median,
    tokens_per_wall_s: batch / walls[0]!,
    gflops: (flops * batch) / best / 1e9,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  }),
)
opt.dispose()
layer.dispose()
