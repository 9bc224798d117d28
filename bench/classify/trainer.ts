// Training throughput of the engine's image classifiers (src/engine/classifiers): full AdamW
// steps (training-mode forward, cross-entropy, gradients, update) on random 28×28 images with
// random labels, timed after two warm-up steps. Prints one JSON line per model.
//   npx tsx bench/classify/trainer.ts [--batch 128 --steps 10]
import { parseArgs } from 'node:util'
import { initBackend, tf } from '../../src/engine/backend.js'
import { disposeParams } from '../../src/engine/classifiers/classifier.js'
import { createClassifier } from '../../src/engine/classifiers/registry.js'
import { classifierStep, makeOptimizer } from '../../src/engine/classifiers/train.js'

const { values } = parseArgs({ options: { batch: { type: 'string' }, steps: { type: 'string' }, models: { type: 'string' } } })
const B = Number(values.batch ?? 128)
const steps = Number(values.steps ?? 10)
const SHAPE = { height: 28, width: 28, channels: 1, classes: 10 }
/** docs/classifiers.md's small mixer for 28×28 images. */
const SMALL_MIXER = { patch: 4, hidden: 128, tokenMixing: 64, channelMixing: 512, depth: 4 }
const MODELS: Record<string, [string, Record<string, unknown>]> = {
  mlp: ['mlp', { hidden: 100 }],
  'mixer-dense': ['mixer', { ...SMALL_MIXER, mlp: 'dense' }],
  'mixer-cpmoe16': ['mixer', { ...SMALL_MIXER, mlp: 'cpmoe', experts: 16 }],
}

const report = await initBackend()
const backend = report.native.kernels.length > 0 ? `${report.backend} + native OpenBLAS, ${report.native.threads} thread(s)` : `${report.backend}, 1 thread`
for (const name of (values.models ?? 'mlp,mixer-dense,mixer-cpmoe16').split(',')) {
  const [kind, config] = MODELS[name]!
  const model = createClassifier(kind, config, SHAPE)
  const params = model.init(0)
  const optimizer = makeOptimizer(params, { kind: 'adamw', lr: 1e-3 })
  const images = tf.randomUniform([B, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D
  const labels = Int32Array.from({ length: B }, (_, i) => (i * 7) % 10)
  classifierStep(model, params, optimizer, { images, labels })
  classifierStep(model, params, optimizer, { images, labels })
  const t0 = performance.now()
  for (let i = 0; i < steps; i++) classifierStep(model, params, optimizer, { images, labels })
  const seconds = (performance.now() - t0) / 1000
  console.log(JSON.stringify({ impl: 'mxd', model: name, backend, params: model.paramCount(), batch: B, steps, seconds, samplesPerSecond: (steps * B) / seconds }))
  images.dispose()
  optimizer.dispose()
  disposeParams(params)
}
