// A classifier's trainable parameters as one float64 vector w and back (the convention of
// types.ts): the weights in the order of model.init(…).weights' keys, each tensor row-major. The
// certified path computes g, H⁻¹g, w⁻ and the noise on this vector; the classifier's forward and
// the saved safetensors use the named tensors.
import { tf } from '../backend.js'
import { disposeParams, type Classifier, type ClassifierParams } from '../classifiers/classifier.js'
import type { ParamSlot } from './types.js'

/** Where each trainable tensor of `model` sits in w (BatchNorm buffers are not part of w). */
export function paramLayout(model: Classifier): ParamSlot[] {
  const init = model.init(0)
  const slots: ParamSlot[] = []
  let offset = 0
  for (const [name, v] of Object.entries(init.weights)) {
    slots.push({ name, shape: [...v.shape], offset, size: v.size })
    offset += v.size
  }
  disposeParams(init)
  return slots
}

/** The length of w for a layout. */
export const layoutSize = (layout: readonly ParamSlot[]): number => layout.reduce((n, s) => n + s.size, 0)

/** w from named parameters (float32 values widened exactly). */
export function flattenParams(params: ClassifierParams, layout: readonly ParamSlot[]): Float64Array {
  const w = new Float64Array(layoutSize(layout))
  for (const slot of layout) {
    const v = params.weights[slot.name]
    if (!v) throw new Error(`classifier parameter "${slot.name}" is missing: the parameters are not of the model the layout was made for`)
    if (v.size !== slot.size) throw new Error(`classifier parameter "${slot.name}" has ${v.size} values, the layout expects ${slot.size}`)
    w.set(v.dataSync() as Float32Array, slot.offset)
  }
  return w
}

/** Named float32 variables from w (rounded to float32: what a saved classifier holds). */
export function paramsFromVector(model: Classifier, layout: readonly ParamSlot[], w: Float64Array): ClassifierParams {
  const size = layoutSize(layout)
  if (w.length !== size) throw new Error(`parameter vector has ${w.length} values, this ${model.kind} has ${size}`)
  const weights: ClassifierParams['weights'] = {}
  for (const slot of layout) {
    weights[slot.name] = tf.variable(tf.tensor(Float32Array.from(w.subarray(slot.offset, slot.offset + slot.size)), slot.shape, 'float32'))
  }
  return { weights, buffers: {} }
}

/** The slot named `name` (an error naming it and the kind when the layout has none). */
export function slotOf(layout: readonly ParamSlot[], name: string, kind: string): ParamSlot {
  const slot = layout.find((s) => s.name === name)
  if (!slot) throw new Error(`the ${kind} layout has no parameter "${name}"`)
  return slot
}
