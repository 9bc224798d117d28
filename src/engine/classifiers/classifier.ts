// What every image classifier in the engine is: a config (validated by its zod schema), a set of
// named parameters, and one forward from images to logits used alike by training, evaluation and
// prediction. Models are functional — a Classifier holds no tensors — so the same parameters can
// be trained, saved as safetensors under these names, reloaded and run without a wrapper class.
//
// Images are NHWC float tensors [B, H, W, C] (pixel values as the dataset reader scales them).
// Weight matrices are [in, out], as everywhere in the engine (ops.ts): a torch nn.Linear weight is
// its transpose.
import type { z } from 'zod'
import { tf } from '../backend.js'
import type { Linear } from '../ops.js'

/** What the data fixes about a classifier: the image size and the number of classes. */
export interface ImageShape {
  height: number
  width: number
  channels: number
  classes: number
}

export interface ClassifierParams {
  /** Trainable parameters by stable name (the names a saved classifier's safetensors use). */
  weights: Record<string, tf.Variable>
  /**
   * State that is not trained: BatchNorm running statistics (`….running_mean`, `….running_var`).
   * A training-mode forward updates them in place; an eval-mode forward only reads them.
   */
  buffers: Record<string, tf.Variable>
}

export interface ForwardOptions {
  /** Training: batch statistics in BatchNorm (and running ones updated). Eval: running ones. */
  training: boolean
  /**
   * Called with each μMoE block's gate coefficients a [B, P, N] (block index from 0), for the
   * expert view; the callee keeps (tf.keep / clone) what it needs beyond the forward's scope.
   */
  onGate?: (block: number, a: tf.Tensor3D) => void
}

/** One classifier, configured for one image shape. */
export interface Classifier {
  readonly kind: string
  readonly shape: ImageShape
  /** Fresh parameters (seed undefined = nondeterministic). */
  init(seed?: number): ClassifierParams
  /** images [B, H, W, C] → logits [B, classes]. */
  forward(params: ClassifierParams, images: tf.Tensor4D, options: ForwardOptions): tf.Tensor2D
  /** Number of trainable parameters, from the config alone (equals the sizes init() makes). */
  paramCount(): number
}

/** A registry entry: the config's schema (bounds included) and the constructor. */
export interface ClassifierModule<S extends z.ZodTypeAny = z.ZodTypeAny> {
  readonly kind: string
  /** One line for menus and `--help`. */
  readonly title: string
  readonly schema: S
  create(config: z.infer<S>, shape: ImageShape): Classifier
}

// ------------------------------------------------------------------------- shared pieces

const nextSeed = (seed: number | undefined, k: number): number | undefined => (seed === undefined ? undefined : seed + k)
export { nextSeed }

/**
 * torch's nn.Linear initialisation: weight and bias ~ U(±1/sqrt(in)). The weight is [in, out].
 * Returns the two variables under `${name}.weight` / `${name}.bias`.
 */
export function initLinear(name: string, inDim: number, outDim: number, seed?: number): Record<string, tf.Variable> {
  const bound = 1 / Math.sqrt(inDim)
  return {
    [`${name}.weight`]: tf.variable(tf.tidy(() => tf.randomUniform([inDim, outDim], -bound, bound, 'float32', seed))),
    [`${name}.bias`]: tf.variable(tf.tidy(() => tf.randomUniform([outDim], -bound, bound, 'float32', nextSeed(seed, 1)))),
  }
}

/** LayerNorm's affine: weight 1, bias 0 (torch's default). */
export function initLayerNorm(name: string, dim: number): Record<string, tf.Variable> {
  return { [`${name}.weight`]: tf.variable(tf.ones([dim])), [`${name}.bias`]: tf.variable(tf.zeros([dim])) }
}

/** Parameters of a linear map with bias. */
export const linearParamCount = (inDim: number, outDim: number): number => inDim * outDim + outDim

/** The Linear named `name` in a parameter set. */
export function linearOf(weights: Record<string, tf.Variable>, name: string): Linear {
  return { w: param(weights, `${name}.weight`) as tf.Tensor2D, b: param(weights, `${name}.bias`) as tf.Tensor1D }
}

/** A parameter by name, with an error naming it when it is missing (a wrong or partial checkpoint). */
export function param(weights: Record<string, tf.Variable>, name: string): tf.Variable {
  const v = weights[name]
  if (!v) throw new Error(`classifier parameter "${name}" is missing`)
  return v
}

/** Flattens images [B, H, W, C] to rows [B, H·W·C] (row-major: y, then x, then channel). */
export function flattenImages(images: tf.Tensor4D): tf.Tensor2D {
  return tf.reshape(images, [images.shape[0], -1]) as tf.Tensor2D
}

/** Disposes a parameter set's variables. */
export function disposeParams(params: ClassifierParams): void {
  tf.dispose([...Object.values(params.weights), ...Object.values(params.buffers)])
}

/** A copy of a parameter set: new variables with the same names, values and trainability. */
export function cloneParams(params: ClassifierParams): ClassifierParams {
  const copy = (vars: Record<string, tf.Variable>): Record<string, tf.Variable> =>
    Object.fromEntries(Object.entries(vars).map(([name, v]) => [name, tf.variable(v, v.trainable)]))
  return { weights: copy(params.weights), buffers: copy(params.buffers) }
}

/** Trainable parameters actually held (for checks against paramCount()). */
export const heldParamCount = (params: ClassifierParams): number => Object.values(params.weights).reduce((n, v) => n + v.size, 0)
