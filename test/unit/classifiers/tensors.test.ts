// A classifier saved as a real safetensors file and loaded back gives the same eval-mode logits
// bit for bit (BatchNorm running statistics included); a file from another config is refused
// with the tensor it concerns.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { disposeParams } from '../../../src/engine/classifiers/classifier.js'
import { createClassifier } from '../../../src/engine/classifiers/registry.js'
import { paramsFromTensors, paramsToTensors, type NamedTensor } from '../../../src/engine/classifiers/tensors.js'
import { classifierLogits, classifierStep, makeOptimizer } from '../../../src/engine/classifiers/train.js'
import { SafetensorsFile, writeSafetensors } from '../../../src/engine/safetensors.js'

const dir = mkdtempSync(join(tmpdir(), 'mxd-classifier-'))
beforeAll(async () => {
  await initBackend()
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function readAll(path: string): Record<string, NamedTensor> {
  const file = SafetensorsFile.open(path)
  try {
    return Object.fromEntries([...file.tensors].map(([n, info]) => [n, { shape: info.shape, data: file.readFloat32(n) }]))
  } finally {
    file.close()
  }
}

const shape = { height: 8, width: 8, channels: 1, classes: 3 }
const config = { patch: 4, hidden: 8, tokenMixing: 4, channelMixing: 8, depth: 1, mlp: 'cpmoe', experts: 3 }

it('save → load round trip of a trained μMoE mixer gives identical eval logits', () => {
  const model = createClassifier('mixer', config, shape)
  const params = model.init(4)
  const images = tf.randomUniform([5, 8, 8, 1], 0, 1, 'float32', 1) as tf.Tensor4D
  const optimizer = makeOptimizer(params, { kind: 'adamw', lr: 1e-2 })
  // A step moves the weights and the running statistics away from their initial values.
  classifierStep(model, params, optimizer, { images, labels: Int32Array.of(0, 1, 2, 0, 1) })
  const path = join(dir, 'model.safetensors')
  writeSafetensors(path, paramsToTensors(params))
  const loaded = paramsFromTensors(model, readAll(path))
  expect(Object.keys(loaded.buffers).sort()).toEqual(['blocks.0.channel.gate.running_mean', 'blocks.0.channel.gate.running_var'])
  const a = classifierLogits(model, params, images)
  const b = classifierLogits(model, loaded, images)
  expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()))
  tf.dispose([a, b, images])
  optimizer.dispose()
  disposeParams(params)
  disposeParams(loaded)
})

it('refuses a file from another config, naming the tensor', () => {
  const model = createClassifier('mixer', config, shape)
  const params = model.init(1)
  const tensors = paramsToTensors(params) as Record<string, NamedTensor>
  const wider = createClassifier('mixer', { ...config, hidden: 12 }, shape)
  expect(() => paramsFromTensors(wider, tensors)).toThrow(/tensor "[^"]+" has shape \[.*\], this mixer needs/)
  const { ['head.bias']: _dropped, ...partial } = tensors
  expect(() => paramsFromTensors(model, partial)).toThrow(/tensor "head\.bias" is missing/)
  expect(() => paramsFromTensors(createClassifier('mlp', {}, shape), tensors)).toThrow(/is not a parameter of this mlp/)
  disposeParams(params)
})
