// The keys and values a model has already computed, so generation feeds only the new tokens.
import { tf } from '../backend.js'

interface LayerKV {
  /** Keys stored transposed, [batch, kvHeads, headDim, time], ready for q · kᵀ. */
  keysT: tf.Tensor4D
  values: tf.Tensor4D
}

/**
 * Keys and values of the positions already processed, per layer, plus their attention mask, so a
 * forward over only the new tokens gives the same result as a forward over the whole sequence.
 * Owned by the caller: dispose() it when generation ends.
 */
export class KVCache {
  private readonly layers: (LayerKV | undefined)[] = []
  private pastMask: number[][] = []

  /** Number of cached positions. */
  get length(): number {
    return this.pastMask[0]?.length ?? 0
  }

  /** Attention mask of the cached positions, one row per sequence. */
  get mask(): readonly (readonly number[])[] {
    return this.pastMask
  }

  /** Appends one layer's new keys/values; returns the full ones. Survives the caller's tf.tidy. */
  extend(layer: number, keysT: tf.Tensor4D, values: tf.Tensor4D): LayerKV {
    const old = this.layers[layer]
    const next = old ? { keysT: tf.concat([old.keysT, keysT], 3), values: tf.concat([old.values, values], 2) } : { keysT, values }
    tf.keep(next.keysT)
    tf.keep(next.values)
    if (old) tf.dispose([old.keysT, old.values])
    this.layers[layer] = next
    return next
  }

  /** Records the mask of the tokens a forward just appended (called once per forward). */
  appendMask(mask: readonly (readonly number[])[]): void {
    this.pastMask = mask.map((row, b) => [...(this.pastMask[b] ?? []), ...row])
  }

  dispose(): void {
    for (const kv of this.layers) if (kv) tf.dispose([kv.keysT, kv.values])
    this.layers.length = 0
    this.pastMask = []
  }
}
