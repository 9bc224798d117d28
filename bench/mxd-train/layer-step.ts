// Micro-benchmark: one training step (forward + paper loss + backward + gradient projection +
// AdamW + renormalisation) of a GPT-2-small-shaped MxD (d = O = 768, H = 3072, N = 21,490,
// K = 32) at batch 256, for the sparse (K gathered rows of C per token) and dense ([B,N]×[N,O],
// the official code's) forms of Cᵀa; the faster one is MxDLayer's default.
//   node --import tsx bench/mxd-train/layer-step.ts [--batch 256] [--steps 3] [--only sparse|dense]
import { initBackend, tf } from '../../src/engine/backend.js'
import { mxdLoss } from '../../src/engine/layers/loss.js'
import { MxDLayer, parameterMatchedExperts } from '../../src/engine/layers/mxd.js'
import { AdamW } from '../../src/engine/optim/adamw.js'

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback
}

const batch = Number(arg('batch', '256'))
const steps = Number(arg('steps', '3'))
const only = arg('only', '')
const [d, H, K] = [768, 3072, 32]
const N = parameterMatchedExperts(d, d, H, false)

const report = await initBackend()
console.log(`backend ${report.backend}, batch ${batch}, d ${d}, H ${H}, N ${N}, K ${K}, ${steps} timed steps after 1 warm-up`)

/**
 * CPU time of fn (user + system of this process, ms), forcing the result to be computed (wasm is
 * synchronous; dataSync is the fence). The wasm backend runs on one thread, so CPU time is its
 * compute time even when other processes share the cores; wall time would count their share too.
 */
function timed<T>(fn: () => T): [T, number] {
  const c0 = process.cpuUsage()
  const out = fn()
  const c = process.cpuUsage(c0)
  return [out, (c.user + c.system) / 1000]
}

for (const expertProduct of ['sparse', 'dense'] as const) {
  if (only && only !== expertProduct) continue
  const layer = MxDLayer.create({ dIn: d, dOut: d, hidden: H, experts: N, k: K, expertProduct, seed: 1 })
  // D = 0 at init makes Cᵀa's gradient vanish; a random D makes the step representative.
  tf.tidy(() => layer.params.D!.assign(tf.randomNormal([H, d], 0, 0.02, 'float32', 2)))
  const opt = new AdamW(layer.params, { lr: 4e-4, weightDecay: 0 })
  const x = tf.randomNormal([batch, d], 0, 1, 'float32', 3) as tf.Tensor2D
  const target = tf.randomNormal([batch, d], 0, 1, 'float32', 4) as tf.Tensor2D
  // Per timed step: [forward, backward, optimizer] CPU ms; the best step is reported, with the
  // median beside it (garbage collection and cache effects only ever add time).
  const samples: [number, number, number][] = []
  const walls: number[] = []
  for (let step = 0; step <= steps; step++) {
    const wall0 = performance.now()
    // Forward alone (inference), to split the step's time.
    const [, fwd] = timed(() => tf.tidy(() => layer.forward(x).y.dataSync()))
    const [{ loss, grads }, fwdBwd] = timed(() => {
      const r = layer.valueAndGrads(x, ({ y }) => mxdLoss(y, target))
      for (const g of Object.values(r.grads)) g.dataSync()
      return r
    })
    const [, optMs] = timed(() => {
      const projected = layer.projectGradients(grads)
      opt.applyGradients(projected)
      layer.afterStep()
      layer.params.C!.dataSync()
      tf.dispose(Object.values(projected))
    })
    loss.dispose()
    if (step > 0) samples.push([fwd, fwdBwd - fwd, optMs]) // step 0 warms up (wasm memory growth)
    const wall = performance.now() - wall0
    if (step > 0) walls.push(wall)
  }
  const total = (s: [number, number, number]): number => s[0] + s[1] + s[2]
  samples.sort((a, b) => total(a) - total(b))
  const best = samples[0]!
  const median = total(samples[Math.floor(samples.length / 2)]!)
  console.log(
    `Cᵀa ${expertProduct.padEnd(6)}  best step (CPU time) ${total(best).toFixed(0)} ms (forward ${best[0].toFixed(0)}, backward ${best[1].toFixed(0)}, ` +
      `projection+AdamW+renorm ${best[2].toFixed(0)})  →  ${((batch / total(best)) * 1000).toFixed(1)} tokens/s;  median ${median.toFixed(0)} ms; ` +
      `wall clock per step incl. the extra forward: best ${Math.min(...walls).toFixed(0)} ms`,
  )
  tf.dispose([x, target])
  opt.dispose()
  layer.dispose()
}
