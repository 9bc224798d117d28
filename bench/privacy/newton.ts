// Our side of bench/privacy/run.sh: seconds for the gradient of the privacy objective F, one
// Hessian-vector product, and a full Newton step w⁻ = w* − H⁻¹g by conjugate gradient (the
// engine's curvature/ and linalg.ts, the code newton.ts runs), for logistic regression and the
// MLP on Fashion-MNIST, from fixed weights that bench/privacy/newton_torch.py reads too.
//   npx tsx bench/privacy/newton.ts --out DIR --prepare [--rows …]   (once: DIR/weights-{kind}.safetensors, DIR/shift-{kind}.json)
//   npx tsx bench/privacy/newton.ts --out DIR [--rows 10000 --forget 100 --max-iterations 1000]
// F is not convex at these weights (forward-KL on D_f is not convex in the logits, and the MLP is
// not either), so, as newtonStep does, the solve is with H_pd = H + s·I, s = λ − λ_min (Lanczos,
// 60 steps) when λ_min < 0. --prepare computes s once with our Lanczos; both sides then solve
// with the same H_pd (PyTorch has no Lanczos of its own here, so that part is ours only).
// Prints one JSON line per model and writes DIR/ours-{kind}-t{threads}-{grad,wminus}.f64 (raw
// little-endian float64) for run.sh's agreement check.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { readIdxFolder } from '../../src/data/images/idx.js'
import { initBackend } from '../../src/engine/backend.js'
import { disposeParams, type Classifier } from '../../src/engine/classifiers/classifier.js'
import { createClassifier } from '../../src/engine/classifiers/registry.js'
import { paramsToTensors } from '../../src/engine/classifiers/tensors.js'
import { curvatureFor } from '../../src/engine/privacy/curvature/registry.js'
import { DENSE_MAX_SIZE } from '../../src/engine/privacy/curvature/curvature.js'
import { conjugateGradient, lanczosSmallest } from '../../src/engine/privacy/linalg.js'
import { LANCZOS_STEPS } from '../../src/engine/privacy/newton.js'
import { layoutSize, paramLayout } from '../../src/engine/privacy/params.js'
import type { LabelledRows } from '../../src/engine/privacy/types.js'
import { SafetensorsFile, writeSafetensors } from '../../src/engine/safetensors.js'

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    data: { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
    rows: { type: 'string', default: '10000' },
    forget: { type: 'string', default: '100' },
    hidden: { type: 'string', default: '100' },
    'max-iterations': { type: 'string', default: '1000' },
    tolerance: { type: 'string', default: '1e-6' },
    models: { type: 'string', default: 'logreg,mlp' },
    prepare: { type: 'boolean', default: false },
  },
})
if (!values.out) throw new Error('--out DIR is required (where the weights and the result vectors go)')
const out = values.out
const shape = { height: 28, width: 28, channels: 1, classes: 10 }
const KINDS = { logreg: {}, mlp: { hidden: Number(values.hidden) } } as const
type Kind = keyof typeof KINDS
const kinds = values.models.split(',') as Kind[]
const report = await initBackend()

// D_f = the first `forget` training images, D_r = the next rows − forget (run.sh passes the same
// split to the PyTorch side).
const data = await readIdxFolder(values.data, { maxClasses: 10 })
const n = Number(values.rows)
const f = Number(values.forget)
const D = 784
if (n > data.train.labels.length) throw new Error(`--rows ${n}: ${values.data} has ${data.train.labels.length} training images`)
const slice = (a: number, b: number): LabelledRows => ({
  images: data.train.images.data.subarray(a * D, b * D),
  labels: data.train.labels.subarray(a, b),
  height: 28,
  width: 28,
  channels: 1,
})
const sets = { forget: slice(0, f), retain: slice(f, n) }
const objective = { theta: 0.75, lambda: 1e-2, lossK: 'forward-kl' as const, temperature: 1 }
const seconds = <T>(fn: () => T): [T, number] => {
  const t = performance.now()
  const r = fn()
  return [r, (performance.now() - t) / 1000]
}
// Without the native addon there is no thread count of ours to report: name the files by the one asked for.
const threads = report.native.threads ?? (Number(process.env.MXD_THREADS) || 1)
const weightsFile = (kind: Kind): string => join(out, `weights-${kind}.safetensors`)
const shiftFile = (kind: Kind): string => join(out, `shift-${kind}.json`)

if (values.prepare) {
  for (const kind of kinds) {
    // torch's nn.Linear initialisation (classifier.ts initLinear), seed 1: the w* both sides start from.
    const model = createClassifier(kind, KINDS[kind], shape)
    const params = model.init(1)
    writeSafetensors(weightsFile(kind), paramsToTensors(params))
    disposeParams(params)
    const w = readWeights(model, kind)
    const op = curvatureFor(model, sets, objective).hessian(w)
    const [l, lanczosS] = seconds(() => lanczosSmallest(op.apply, w.length, { steps: LANCZOS_STEPS }))
    const shift = l.value < 0 ? objective.lambda - l.value : 0
    writeFileSync(shiftFile(kind), JSON.stringify({ lambdaMin: l.value, residual: l.residual, steps: l.steps, shift, lanczosS }))
    console.log(JSON.stringify({ side: 'prepare', kind, lambdaMin: l.value, residual: l.residual, shift, lanczosS }))
  }
  process.exit(0)
}

const save = (name: string, v: Float64Array): void => writeFileSync(join(out, name), new Uint8Array(v.buffer, v.byteOffset, v.byteLength))

function readWeights(model: Classifier, kind: Kind): Float64Array {
  const file = SafetensorsFile.open(weightsFile(kind))
  const layout = paramLayout(model)
  const w = new Float64Array(layoutSize(layout))
  for (const slot of layout) w.set(file.readFloat64(slot.name), slot.offset)
  file.close()
  return w
}

for (const kind of kinds) {
  const model = createClassifier(kind, KINDS[kind], shape)
  const w = readWeights(model, kind)
  const { shift } = JSON.parse(readFileSync(shiftFile(kind), 'utf8')) as { shift: number }
  const curvature = curvatureFor(model, sets, objective)
  const P = curvature.size
  // (1) ∇F(w*), twice (the first also warms the backend up).
  curvature.gradient(w)
  const [g, gradS] = seconds(() => curvature.gradient(w))
  // (2) one HVP: hessian(w) does the forward at w once (newton.ts does it once per step), then
  // each apply is one product; the median of three.
  const [op, setupS] = seconds(() => curvature.hessian(w))
  const v = Float64Array.from(g, (_, i) => Math.sin(i))
  const hvps = [0, 1, 2].map(() => seconds(() => op.apply(v))[1]).sort((a, b) => a - b)
  // (3) the dense Hessian only where the operator offers it (P ≤ DENSE_MAX_SIZE).
  let denseS: number | null = null
  if (op.dense) denseS = seconds(() => op.dense!())[1]
  // (4) the Newton step as newtonStep's CG branch does it, with the shift from --prepare in place
  // of its Lanczos: g, H at w*, CG on H + sI from 0 to ‖r‖ ≤ 1e-6‖g‖, w⁻ = w* − x.
  const [step, newtonS] = seconds(() => {
    const g0 = curvature.gradient(w)
    const H = curvature.hessian(w)
    const applyPd = (u: Float64Array): Float64Array => {
      const y = H.apply(u)
      if (shift !== 0) for (let i = 0; i < P; i++) y[i]! += shift * u[i]!
      return y
    }
    const cg = conjugateGradient(applyPd, g0, { tolerance: Number(values.tolerance), maxIterations: Number(values['max-iterations']) })
    return { cg, wMinus: Float64Array.from(w, (wi, i) => wi - cg.x[i]!) }
  })
  save(`ours-${kind}-t${threads}-grad.f64`, g)
  save(`ours-${kind}-t${threads}-wminus.f64`, step.wMinus)
  let gn = 0
  for (const x of g) gn += x * x
  console.log(
    JSON.stringify({
      side: 'ours',
      kind,
      P,
      threads,
      backend: report.backend,
      native: report.native.kernels.length > 0,
      corename: report.native.corename,
      rows: n,
      forget: f,
      gradientS: gradS,
      hessianSetupS: setupS,
      hvpS: hvps[1],
      hvpMethod: op.method,
      denseS,
      denseWhyNot: op.dense ? null : `P = ${P} > DENSE_MAX_SIZE ${DENSE_MAX_SIZE}: the curvature offers no dense Hessian`,
      shift,
      newtonS,
      cgIterations: step.cg.iterations,
      cgConverged: step.cg.converged,
      cgRelativeResidual: step.cg.residualNorm / Math.sqrt(gn),
    }),
  )
}
