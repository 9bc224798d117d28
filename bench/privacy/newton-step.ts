// Seconds and CG iterations of one full certified Newton step (newtonStep: gradient, Lanczos
// λ_min, CG on H_pd) for logistic regression on Fashion-MNIST-sized data, CG plain and with the
// Jacobi preconditioner, at each λ. Data: |D_f| + |D_r| random Fashion-MNIST-like rows (half the
// pixels zero), and, where the folder exists, the real Fashion-MNIST training images (D_f = the
// first --forget images, D_r = the rest), with w* from --epochs epochs of AdamW on all of them
// (fixed order, init seed 1: deterministic).
//   npx tsx bench/privacy/newton-step.ts [--rows 54000 --forget 100 --lambdas 1e-3,1e-2 --tolerance 1e-6
//                                    --max-iterations 3000 --fashion /usr/share/datasets/fashion-mnist
//                                    --epochs 3 --preconditioners none,jacobi --products auto
//                                    --losses forward-kl,reverse-kl]
// Each step's relative residual is reported twice: with the operator CG used (float32 pixel
// products on this size) and with the exact float64 one (one more product), which is the one
// that bounds ‖x − H_pd⁻¹g‖ for the exact Hessian.
import { existsSync } from 'node:fs'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { initBackend, tf } from '../../src/engine/backend.js'
import { disposeParams } from '../../src/engine/classifiers/classifier.js'
import { createClassifier } from '../../src/engine/classifiers/registry.js'
import { classifierStep, makeOptimizer } from '../../src/engine/classifiers/train.js'
import { PIXEL_SCALE } from '../../src/engine/classifiers/folder.js'
import { logregCurvature } from '../../src/engine/privacy/curvature/logreg.js'
import { newtonStep } from '../../src/engine/privacy/newton.js'
import { flattenParams, paramLayout } from '../../src/engine/privacy/params.js'
import type { HessianOperator, LabelledRows, PrivacySets, UncertaintyLoss } from '../../src/engine/privacy/types.js'
import { readIdxFolder } from '../../src/data/images/idx.js'

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '54000' },
    forget: { type: 'string', default: '100' },
    lambdas: { type: 'string', default: '1e-3,1e-2' },
    tolerance: { type: 'string', default: '1e-6' },
    'max-iterations': { type: 'string', default: '3000' },
    fashion: { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
    epochs: { type: 'string', default: '3' },
    preconditioners: { type: 'string', default: 'none,jacobi' },
    products: { type: 'string', default: 'auto' },
    losses: { type: 'string', default: 'forward-kl,reverse-kl' },
    random: { type: 'boolean', default: true },
  },
  allowNegative: true,
})
const report = await initBackend()
const shape = { height: 28, width: 28, channels: 1, classes: 10 }
const D = 784
const forget = Number(values.forget)
console.log(
  `backend ${report.backend}, native kernels: ${report.native.kernels.join(', ') || report.native.reason}, threads ${report.native.threads}; load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
)

let seed = 1
const byte = (): number => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
  return seed >>> 24
}
const randomRows = (n: number): LabelledRows => ({
  images: Uint8Array.from({ length: n * D }, () => (byte() < 128 ? 0 : byte())),
  labels: Uint8Array.from({ length: n }, () => byte() % 10),
  ...{ height: 28, width: 28, channels: 1 },
})

/** w* of a logreg: init(1) for random data, else `epochs` of AdamW (lr 1e-3, batch 256, fixed order) on all rows. */
function trainedW(rows: LabelledRows | null, epochs: number): Float64Array {
  const model = createClassifier('logreg', {}, shape)
  const params = model.init(1)
  if (rows) {
    const optimizer = makeOptimizer(params, { kind: 'adamw', lr: 1e-3 })
    const n = rows.labels.length
    for (let e = 0; e < epochs; e++) {
      let loss = 0
      for (let s = 0; s < n; s += 256) {
        const b = Math.min(n, s + 256) - s
        const images = tf.tensor4d(
          Float32Array.from(rows.images.subarray(s * D, (s + b) * D), (x) => x * PIXEL_SCALE),
          [b, 28, 28, 1],
        )
        loss = classifierStep(model, params, optimizer, { images, labels: Int32Array.from(rows.labels.subarray(s, s + b)) })
        images.dispose()
      }
      console.log(`  w*: epoch ${e + 1}, last batch loss ${loss.toFixed(4)}`)
    }
    optimizer.dispose()
  }
  const w = flattenParams(params, paramLayout(model))
  disposeParams(params)
  return w
}

function bench(label: string, sets: PrivacySets, w: Float64Array): void {
  const model = createClassifier('logreg', {}, shape)
  for (const lossK of values.losses.split(',') as UncertaintyLoss[])
    for (const lambda of values.lambdas.split(',').map(Number)) {
      const objective = { theta: 0.5, lambda, lossK, temperature: 1 }
      const curvature = logregCurvature(model, sets, objective, { products: values.products as 'auto' | 'float64' | 'float32' })
      const exact = logregCurvature(model, sets, objective, { products: 'float64' })
      let exactH: HessianOperator | null = null
      for (const preconditioner of values.preconditioners.split(',') as ('none' | 'jacobi')[]) {
        let lanczos = 0
        let cgStart = 0
        const step = newtonStep(w, curvature, {
          method: 'cg',
          denseLimit: 0,
          tolerance: Number(values.tolerance),
          maxIterations: Number(values['max-iterations']),
          lambda,
          preconditioner,
          onProgress: (message) => {
            if (message.startsWith('smallest') && lanczos === 0) lanczos = performance.now()
            if ((message.startsWith('Hessian diagonal') || message.includes('CG')) && cgStart === 0) cgStart = performance.now()
          },
        })
        const end = performance.now()
        // ‖H_pd x − g‖/‖g‖ with the exact float64 Hessian (x = w* − w⁻).
        exactH ??= exact.hessian(w)
        const x = w.map((wi, i) => wi - step.wMinus[i]!)
        const Hx = exactH.apply(x)
        let r2 = 0
        for (let i = 0; i < x.length; i++) r2 += (Hx[i]! + step.shift * x[i]! - step.gradient[i]!) ** 2
        const exactRel = Math.sqrt(r2) / Math.hypot(...step.gradient)
        console.log(
          `${label}, ${lossK}, λ = ${lambda}: ${step.solver.description}, ${step.solver.iterations} iterations, relative residual ${step.solver.relativeResidual.toExponential(2)} (exact float64 H: ${exactRel.toExponential(2)}), ` +
            `${step.seconds.toFixed(1)} s (Lanczos ${((cgStart - lanczos) / 1000).toFixed(1)} s, CG ${((end - cgStart) / 1000).toFixed(1)} s), ` +
            `λ_min ${step.lambdaMin.value.toExponential(3)}, shift ${step.shift}; load ${loadavg()[0]!.toFixed(2)}`,
        )
      }
    }
  console.log(`  (${curvature(model, sets)})`)
}
const curvature = (model: ReturnType<typeof createClassifier>, sets: PrivacySets): string =>
  logregCurvature(
    model,
    sets,
    { theta: 0.5, lambda: 1, lossK: 'forward-kl', temperature: 1 },
    { products: values.products as 'auto' },
  ).hessian(new Float64Array(7850)).method

if (values.random) {
  const sets = { forget: randomRows(forget), retain: randomRows(Number(values.rows) - forget) }
  bench(`random ${values.rows} rows`, sets, trainedW(null, 0))
}
if (existsSync(values.fashion)) {
  const folder = await readIdxFolder(values.fashion)
  const { data, count } = folder.train.images
  const all: LabelledRows = { images: data, labels: folder.train.labels, height: 28, width: 28, channels: 1 }
  const w = trainedW(all, Number(values.epochs))
  const sets = {
    forget: { ...all, images: data.subarray(0, forget * D), labels: all.labels.subarray(0, forget) },
    retain: { ...all, images: data.subarray(forget * D), labels: all.labels.subarray(forget) },
  }
  bench(`Fashion-MNIST train (${forget} + ${count - forget}), w* after ${values.epochs} AdamW epochs`, sets, w)
} else {
  console.log(`${values.fashion} not found: real Fashion-MNIST skipped`)
}
