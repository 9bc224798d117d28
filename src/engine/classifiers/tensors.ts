// A classifier's parameters as named float32 tensors and back: what a saved classifier's
// safetensors file holds (weights and BatchNorm buffers under their own names; the names never
// collide). File I/O stays with the caller (a job, in its worker); this only converts and checks,
// so a checkpoint of the wrong model or a truncated one is refused with the tensor it concerns.
import { tf } from '../backend.js'
import type { WritableTensor } from '../safetensors.js'
import { disposeParams, type Classifier, type ClassifierParams } from './classifier.js'

export interface NamedTensor {
  shape: readonly number[]
  data: Float32Array
}

/** Every weight and buffer as an F32 tensor (for writeSafetensors). */
export function paramsToTensors(params: ClassifierParams): Record<string, WritableTensor> {
  const out: Record<string, WritableTensor> = {}
  for (const [name, v] of Object.entries({ ...params.weights, ...params.buffers })) {
    out[name] = { dtype: 'F32', shape: [...v.shape], data: Float32Array.from(v.dataSync()) }
  }
  return out
}

/**
 * Parameters for `model` from named tensors: exactly the names and shapes model.init() makes, or an
 * error naming the first missing, misshapen or unexpected tensor and the likely cause.
 */
export function paramsFromTensors(model: Classifier, tensors: Record<string, NamedTensor>): ClassifierParams {
  const layout = model.init(0)
  const plan = { weights: shapesOf(layout.weights), buffers: shapesOf(layout.buffers) }
  disposeParams(layout)
  const expected = new Set([...Object.keys(plan.weights), ...Object.keys(plan.buffers)])
  const unexpected = Object.keys(tensors).find((n) => !expected.has(n))
  if (unexpected !== undefined) throw new Error(`tensor "${unexpected}" is not a parameter of this ${model.kind}: the file was saved from another model or config`)
  const make = (shapes: Record<string, number[]>, trainable: boolean): Record<string, tf.Variable> => {
    const out: Record<string, tf.Variable> = {}
    for (const [name, shape] of Object.entries(shapes)) {
      const t = tensors[name]
      if (!t) throw new Error(`tensor "${name}" is missing: the file is incomplete or from another ${model.kind} config`)
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
        throw new Error(`tensor "${name}" has shape [${t.shape.join(', ')}], this ${model.kind} needs [${shape.join(', ')}]: the config does not match the file`)
      }
      out[name] = tf.variable(tf.tensor(t.data, shape, 'float32'), trainable)
    }
    return out
  }
  return { weights: make(plan.weights, true), buffers: make(plan.buffers, false) }
}

const shapesOf = (vars: Record<string, tf.Variable>): Record<string, number[]> =>
  Object.fromEntries(Object.entries(vars).map(([n, v]) => [n, [...v.shape]]))
