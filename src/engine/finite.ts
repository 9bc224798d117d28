// Non-finite outputs are errors, never values. A NaN logit printed as JSON becomes null and a
// NaN-filled sampler picks token 0, so a forward that goes non-finite would otherwise end as
// plausible-looking output with exit code 0. Weights are checked at load (weights.ts), so what is
// caught here is an activation that overflowed float32 or a hook / spliced layer that made one;
// the message names the first hook point where that happened, found by re-running the forward
// once with every hook point cached (only on this failure path, so the normal path pays one scan).
import { tf } from './backend.js'
import type { ForwardOptions, LanguageModel } from './models/model.js'

export class NonFiniteError extends Error {
  constructor(
    message: string,
    /** The first hook point holding NaN or ±Infinity, or null when only the logits do. */
    readonly hookPoint: string | null,
  ) {
    super(message)
    this.name = 'NonFiniteError'
  }
}

/** Index of the first NaN or ±Infinity in `values`, or −1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    if (v - v !== 0) return i
  }
  return -1
}

/**
 * Throws a NonFiniteError naming where the forward of `ids` (one sequence, with `opts`'s hooks
 * and replaced MLPs) first went non-finite, if `logits` holds NaN or ±Infinity.
 */
export function assertFiniteLogits(
  model: LanguageModel,
  ids: readonly number[],
  logits: ArrayLike<number>,
  opts: Pick<ForwardOptions, 'hooks' | 'mlpReplacements'> = {},
  /** The model as the user knows it (its folder), named in the message. */
  modelName?: string,
): void {
  const bad = firstNonFinite(logits)
  if (bad < 0) return
  const where = locateNonFinite(model, ids, opts)
  const what = `${logits[bad]}`
  const pass = modelName ? `The forward pass of ${modelName}` : 'The forward pass'
  const fix =
    'so there is no meaningful output. The weights themselves are finite (checked when the model loaded): an activation ' +
    'overflowed float32, which means the weights are corrupt or from a training run that diverged (re-download or re-train them), ' +
    'or a spliced layer or steering value is far too large (check the layer, or use smaller --steer values).'
  if (where === null) {
    throw new NonFiniteError(`${pass} produced a ${what} logit (at element ${bad}), ${fix}`, null)
  }
  throw new NonFiniteError(
    `${pass} went non-finite at ${where.hookPoint} (first ${where.value} at position ${where.position} of ${ids.length}), ` +
      `and the logits hold ${what}, ${fix}`,
    where.hookPoint,
  )
}

/** The first hook point, in forward order, whose activation holds NaN or ±Infinity. */
export function locateNonFinite(
  model: LanguageModel,
  ids: readonly number[],
  opts: Pick<ForwardOptions, 'hooks' | 'mlpReplacements'> = {},
): { hookPoint: string; position: number; value: number } | null {
  // (A replaced MLP fires no hook_post: that name is simply absent from the cache.)
  const names = model.hookPoints
  const { logits, cache } = model.forward([[...ids]], { ...opts, cacheNames: names })
  try {
    for (const name of names) {
      const act = cache[name]
      if (!act) continue
      const values = act.dataSync()
      const i = firstNonFinite(values)
      if (i < 0) continue
      return { hookPoint: name, position: positionOf(name, act, i), value: values[i]! }
    }
    return null
  } finally {
    logits?.dispose()
    tf.dispose(Object.values(cache))
  }
}

/** The sequence position of flat element `i` of a [1, pos, …] activation ([1, head, q, k] for patterns). */
function positionOf(name: string, act: tf.Tensor, i: number): number {
  const shape = act.shape
  const strides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1))
  const axis = name.endsWith('attn.hook_pattern') ? 2 : 1
  return Math.floor(i / strides[axis]!) % shape[axis]!
}
