// Seconds per Hessian-vector product of the privacy objective F on a Fashion-MNIST-sized problem
// (random bytes, 28×28×1, 10 classes, |D_r| + |D_f| rows), for logistic regression (closed form:
// float32 tfjs products with the pixels, the default at this size, and the exact float64 JS loops)
// and the MLP (R-operator, float32 tfjs products with the inputs). Also the set-up
// (hessian(w): the forward at w) and one gradient, for scale.
//   npx tsx bench/privacy/hvp.ts [--rows 54000 --forget 100 --hidden 100 --repeat 2]
import { parseArgs } from 'node:util'
import { initBackend } from '../../src/engine/backend.js'
import { disposeParams } from '../../src/engine/classifiers/classifier.js'
import { createClassifier } from '../../src/engine/classifiers/registry.js'
import { logregCurvature } from '../../src/engine/privacy/curvature/logreg.js'
import { curvatureFor } from '../../src/engine/privacy/curvature/registry.js'
import { flattenParams, paramLayout } from '../../src/engine/privacy/params.js'
import type { LabelledRows } from '../../src/engine/privacy/types.js'

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '54000' },
    forget: { type: 'string', default: '100' },
    hidden: { type: 'string', default: '100' },
    repeat: { type: 'string', default: '2' },
  },
})
const report = await initBackend()
const shape = { height: 28, width: 28, channels: 1, classes: 10 }
let seed = 1
const byte = (): number => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
  return seed >>> 24
}
const rows = (n: number): LabelledRows => ({
  // Fashion-MNIST is about half zero pixels; so is this.
  images: Uint8Array.from({ length: n * 784 }, () => (byte() < 128 ? 0 : byte())),
  labels: Uint8Array.from({ length: n }, () => byte() % 10),
  ...{ height: 28, width: 28, channels: 1 },
})
const sets = { forget: rows(Number(values.forget)), retain: rows(Number(values.rows) - Number(values.forget)) }
const objective = { theta: 0.5, lambda: 0.01, lossK: 'forward-kl' as const, temperature: 1 }
const time = (f: () => void): number => {
  const t = performance.now()
  f()
  return (performance.now() - t) / 1000
}
console.log(
  `backend ${report.backend}, native kernels: ${report.native.kernels.join(', ') || report.native.reason}, threads ${report.native.threads}; ${values.rows} rows × 784, 10 classes`,
)
for (const [kind, config, products] of [
  ['logreg', {}, 'auto'],
  ['logreg', {}, 'float64'],
  ['mlp', { hidden: Number(values.hidden) }, 'auto'],
] as const) {
  const model = createClassifier(kind, config, shape)
  const params = model.init(1)
  const w = flattenParams(params, paramLayout(model))
  disposeParams(params)
  const curvature = kind === 'logreg' ? logregCurvature(model, sets, objective, { products }) : curvatureFor(model, sets, objective)
  const v = Float64Array.from(w, (_, i) => Math.sin(i))
  let op = curvature.hessian(w)
  const setup = time(() => (op = curvature.hessian(w)))
  const grad = time(() => curvature.gradient(w))
  const hvps: number[] = []
  for (let r = 0; r < Number(values.repeat); r++) hvps.push(time(() => op.apply(v)))
  console.log(
    `${kind} P=${curvature.size}: hessian(w) ${setup.toFixed(2)} s, gradient ${grad.toFixed(2)} s, HVP ${hvps.map((s) => s.toFixed(2)).join(' / ')} s (${op.method})`,
  )
}
