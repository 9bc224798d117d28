// Batches of packed sequences in a seeded order, epoch after epoch, with a position that a
// checkpoint stores so a resumed run draws exactly the batches an uninterrupted one would.
// Each sequence holds ctx + 1 tokens: the inputs are its first ctx, the targets its last ctx
// (the next token at every position), as nanoGPT's x = s[:-1], y = s[1:].
import { Rng } from '../../data/shuffle.js'

export interface SamplerPosition {
  epoch: number
  /** Sequences of this epoch's order already drawn. */
  cursor: number
}

export interface Batch {
  /** [batch·ctx] row-major */
  ids: Int32Array
  targets: Int32Array
  batch: number
  time: number
}

/** A batch from sequences of ctx + 1 tokens. */
export function toBatch(seqs: readonly Int32Array[]): Batch {
  const time = (seqs[0]?.length ?? 1) - 1
  const ids = new Int32Array(seqs.length * time)
  const targets = new Int32Array(seqs.length * time)
  seqs.forEach((s, b) => {
    ids.set(s.subarray(0, time), b * time)
    targets.set(s.subarray(1), b * time)
  })
  return { ids, targets, batch: seqs.length, time }
}

export class BatchSampler {
  private order: Uint32Array
  private pos: SamplerPosition

  constructor(
    private readonly sequences: readonly Int32Array[],
    readonly batch: number,
    /** The order of epoch e is a Fisher–Yates shuffle seeded by (seed, e): no state beyond the position. */
    readonly seed: number,
    start: SamplerPosition = { epoch: 0, cursor: 0 },
  ) {
    if (sequences.length < batch) throw new Error(`${sequences.length} training sequences are fewer than one batch of ${batch}`)
    this.pos = { ...start }
    this.order = this.shuffled(start.epoch)
  }

  get position(): SamplerPosition {
    return { ...this.pos }
  }

  /** Continues from a stored position (a resumed run). */
  seek(pos: SamplerPosition): void {
    if (!Number.isInteger(pos.epoch) || !Number.isInteger(pos.cursor)) throw new Error('invalid data position in checkpoint')
    this.pos = { ...pos }
    this.order = this.shuffled(pos.epoch)
  }

  next(): Batch {
    // The partial batch at the end of an epoch is dropped; the next epoch is a fresh order.
    if (this.pos.cursor + this.batch > this.order.length) {
      this.pos = { epoch: this.pos.epoch + 1, cursor: 0 }
      this.order = this.shuffled(this.pos.epoch)
    }
    const picked = Array.from(this.order.subarray(this.pos.cursor, this.pos.cursor + this.batch), (i) => this.sequences[i]!)
    this.pos.cursor += this.batch
    return toBatch(picked)
  }

  private shuffled(epoch: number): Uint32Array {
    const order = Uint32Array.from(this.sequences.keys())
    const rng = new Rng((Math.imul(this.seed, 0x9e3779b1) ^ epoch) >>> 0)
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.below(i + 1)
      ;[order[i], order[j]] = [order[j]!, order[i]!]
    }
    return order
  }
}
