// One interface for the three sparse layers that replace a dense MLP (MxD, TopK transcoder, skip
// transcoder), so that the training loop, the exporter and the evaluation code never branch on
// the kind. The shared behaviour (parameter count, decoder-row constraint, export) lives in
// SparseLayerBase; each layer only writes its forward pass and its hand-written backward pass.
// A kind's data (names, shapes, formulas) is its descriptor in src/shared/layer-kinds; its
// compute is a LayerKindImpl registered in ./kinds.ts.
import type { LayerKindDescriptor, LayerKindId, LayerSize } from '../../shared/layer-kinds/index.js'
import { tf } from '../backend.js'
import type { WritableTensor } from '../safetensors.js'
import { removeParallelComponent, renormalizeRows } from './sparse.js'

export type SparseLayerKind = LayerKindId
export type { LayerSize }

/** Gradients by parameter name (the same names as `params`). */
export type Grads = Record<string, tf.Tensor>

/** Plain weights by parameter name, as written to / read from safetensors. */
export type LayerTensors = Record<string, { shape: number[]; data: Float32Array }>

export interface ForwardOptions {
  /**
   * Replaces the dense post-TopK code a [B, N] before decoding (analysis and steering only: the
   * output is then computed from the returned dense code, and is not differentiable).
   */
  codeHook?: (a: tf.Tensor2D) => tf.Tensor2D
}

// A type (not an interface) so that tf.tidy accepts it as a TensorContainer.
export type SparseForward = {
  /** The layer's output ŷ, [B, d_out]; differentiable w.r.t. every parameter (not w.r.t. x). */
  y: tf.Tensor2D
  /** The post-TopK code a, [B, N] (MxD experts) or [B, d_sae] (transcoder latents); ≤ K non-zeros a row. */
  codes: tf.Tensor2D
  /**
   * The TopK's K winners per row, [B, K] values and indices (distinct within a row): `codes` is
   * these values at these columns and 0 elsewhere, so code statistics can read K entries a row
   * instead of N. Absent when a codeHook replaced the code. (A type literal, not sparse.ts's
   * TopK interface, so that the whole stays a TensorContainer.)
   */
  selected?: { values: tf.Tensor2D; indices: tf.Tensor2D }
}

export interface SparseLayer {
  readonly kind: SparseLayerKind
  /** The sizes it was built from: with `kind`, all that cfg.json and the descriptor need. */
  readonly size: LayerSize
  readonly params: Record<string, tf.Variable>
  /** Units that the TopK selects among: N experts or d_sae latents. */
  readonly width: number
  readonly k: number
  /**
   * ŷ and the code a for a batch x [B, d_in]. Use inside tf.variableGrads(() => loss(...)) to
   * train: the input is treated as a constant (only the layer's parameters get gradients).
   */
  forward(x: tf.Tensor2D, options?: ForwardOptions): SparseForward
  /**
   * loss(forward(x)) and the gradient of every parameter by name, through the hand-written
   * backward passes (tf.variableGrads underneath). The caller disposes loss and grads.
   */
  valueAndGrads(x: tf.Tensor2D, loss: (out: SparseForward) => tf.Scalar): { loss: tf.Scalar; grads: Grads }
  parameterCount(): number
  /** Removes from each unit-norm decoder row's gradient its component along the row; disposes the replaced gradient. */
  projectGradients(grads: Grads): Grads
  /** Re-normalises the unit-norm decoder rows; call after every optimizer step. */
  afterStep(): void
  /** Current weights, by the export names, for writeSafetensors. */
  toTensors(): Record<string, WritableTensor>
  dispose(): void
}

export abstract class SparseLayerBase implements SparseLayer {
  abstract readonly kind: SparseLayerKind
  abstract readonly size: LayerSize
  abstract readonly width: number
  abstract readonly k: number
  abstract forward(x: tf.Tensor2D, options?: ForwardOptions): SparseForward

  /** @param unitNorm the parameter whose rows are kept at unit L2 norm (MxD: C; transcoders: W_dec). */
  protected constructor(
    readonly params: Record<string, tf.Variable>,
    private readonly unitNorm: string,
  ) {}

  valueAndGrads(x: tf.Tensor2D, loss: (out: SparseForward) => tf.Scalar): { loss: tf.Scalar; grads: Grads } {
    const entries = Object.entries(this.params)
    const { value, grads } = tf.variableGrads(() => loss(this.forward(x)), entries.map(([, v]) => v))
    // tf.variableGrads keys gradients by the variables' internal names; map them back to ours.
    const byName: Grads = {}
    for (const [name, v] of entries) {
      const g = grads[v.name]
      if (g !== undefined) byName[name] = g
    }
    return { loss: value, grads: byName }
  }

  parameterCount(): number {
    return Object.values(this.params).reduce((sum, v) => sum + v.size, 0)
  }

  projectGradients(grads: Grads): Grads {
    const g = grads[this.unitNorm]
    if (g === undefined) return grads
    const projected = removeParallelComponent(g as tf.Tensor2D, this.param(this.unitNorm) as tf.Tensor as tf.Tensor2D)
    g.dispose()
    return { ...grads, [this.unitNorm]: projected }
  }

  afterStep(): void {
    renormalizeRows(this.param(this.unitNorm))
  }

  toTensors(): Record<string, WritableTensor> {
    const out: Record<string, WritableTensor> = {}
    for (const [name, v] of Object.entries(this.params)) {
      out[name] = { dtype: 'F32', shape: [...v.shape], data: v.dataSync() as Float32Array }
    }
    return out
  }

  dispose(): void {
    for (const v of Object.values(this.params)) v.dispose()
  }

  protected param(name: string): tf.Variable {
    const v = this.params[name]
    if (v === undefined) throw new Error(`${this.kind} layer has no parameter "${name}"`)
    return v
  }
}

/**
 * Variables from plain weights, checking every expected name and shape (a file written for a
 * different size or kind is refused with the offending tensor named).
 */
export function variablesFromTensors(tensors: LayerTensors, shapes: Record<string, number[]>): Record<string, tf.Variable> {
  checkTensorShapes(tensors, shapes)
  const out: Record<string, tf.Tensor> = {}
  for (const [name, shape] of Object.entries(shapes)) out[name] = tf.tensor(tensors[name]!.data, shape, 'float32')
  return variablesOf(out)
}

/** Throws, naming the tensor, unless every expected name is present with its expected shape. */
export function checkTensorShapes(tensors: LayerTensors, shapes: Record<string, number[]>): void {
  for (const [name, shape] of Object.entries(shapes)) {
    const t = tensors[name]
    if (t === undefined) throw new Error(`missing tensor "${name}"`)
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new Error(`tensor "${name}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`)
    }
  }
}

/** Variables from freshly initialised tensors (the tensors are handed over, not copied). */
export function variablesOf(tensors: Record<string, tf.Tensor>): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {}
  for (const [name, t] of Object.entries(tensors)) {
    out[name] = tf.variable(t)
    t.dispose()
  }
  return out
}

/**
 * A kind's engine half: how to build a fresh layer of a size (the kind's initialisation) and how
 * to rebuild one from saved tensors (already checked against descriptor.file.tensors). Registered
 * in ./kinds.ts beside the descriptor, which it carries.
 */
export interface LayerKindImpl {
  readonly descriptor: LayerKindDescriptor
  create(size: LayerSize, seed?: number): SparseLayer
  fromTensors(size: LayerSize, tensors: LayerTensors): SparseLayer
}
