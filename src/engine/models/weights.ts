// Turning a model folder's tensors and config.json into tfjs tensors and numbers, with errors
// that name the file, the field and what was expected, since the folder comes from the user.
import { tf } from '../backend.js'
import { ModelLoadError } from '../load-error.js'
import type { Linear } from '../ops.js'

/** The part of model-folder's WeightStore the loaders use. */
export interface WeightSource {
  has(name: string): boolean
  /** `file` names the file holding the tensor, for messages. */
  info(name: string): { shape: number[]; file?: string }
  readFloat32(name: string): Float32Array
}

/**
 * Reads named weights into tensors, checking shapes, and remembers every tensor it made so the
 * model can free them all. `prefix` is tried first and then dropped, since checkpoints differ
 * ("transformer.h.0…" from save_pretrained, "h.0…" in the original GPT-2 upload).
 */
export class WeightLoader {
  readonly tensors: tf.Tensor[] = []

  constructor(
    private readonly source: WeightSource,
    private readonly prefix = '',
  ) {}

  has(name: string): boolean {
    return this.resolve(name) !== null
  }

  /** The tensor as stored, checked against `shape`. */
  read(name: string, shape: number[]): tf.Tensor {
    const full = this.resolve(name)
    if (full === null) throw new ModelLoadError(`weight "${this.prefix}${name}" is missing from the model files`)
    const stored = this.source.info(full).shape
    if (stored.length !== shape.length || stored.some((d, i) => d !== shape[i])) {
      throw new ModelLoadError(`weight "${full}" has shape [${stored.join(', ')}] but config.json implies [${shape.join(', ')}]`)
    }
    const values = this.source.readFloat32(full)
    checkFinite(values, full, this.source.info(full).file)
    return this.derive(() => tf.tensor(values, shape))
  }

  vector(name: string, size: number): tf.Tensor1D {
    return this.read(name, [size]) as tf.Tensor1D
  }

  matrix(name: string, rows: number, cols: number): tf.Tensor2D {
    return this.read(name, [rows, cols]) as tf.Tensor2D
  }

  /** A torch nn.Linear (weight [out, in], optional bias) as [in, out], the layout matMul wants. */
  torchLinear(prefix: string, inDim: number, outDim: number): Linear {
    const w = this.transform(this.matrix(`${prefix}.weight`, outDim, inDim), (t) => tf.transpose(t) as tf.Tensor2D)
    const b = this.has(`${prefix}.bias`) ? this.vector(`${prefix}.bias`, outDim) : null
    return { w, b }
  }

  /** A new tensor computed from loaded ones (e.g. a transposed copy), freed with the rest. */
  derive<T extends tf.Tensor>(f: () => T): T {
    const out = tf.tidy(f)
    this.tensors.push(out)
    return out
  }

  /** Replaces a loaded tensor by a re-laid-out copy, freeing the original at once. */
  transform<T extends tf.Tensor>(t: tf.Tensor, f: (t: tf.Tensor) => T): T {
    const out = this.derive(() => f(t))
    this.free([t])
    return out
  }

  /** Disposes loaded tensors that a derived one replaced. */
  free(tensors: tf.Tensor[]): void {
    for (const t of tensors) {
      const index = this.tensors.indexOf(t)
      if (index >= 0) this.tensors.splice(index, 1)
      t.dispose()
    }
  }

  private resolve(name: string): string | null {
    if (this.source.has(this.prefix + name)) return this.prefix + name
    return this.source.has(name) ? name : null
  }
}

/**
 * A NaN or ±Inf weight makes every later activation NaN, which would reach the user as logits of
 * null. One pass over values just read from disk costs little next to the read, and it can name
 * the tensor, where a non-finite logit could not.
 */
function checkFinite(values: Float32Array, name: string, file: string | undefined): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    if (v - v !== 0) {
      throw new ModelLoadError(
        `weight "${name}"${file ? ` in ${file}` : ''} holds ${v} at element ${i}: the weights are corrupt (or came from a training run that diverged); re-download or re-export them`,
      )
    }
  }
}
