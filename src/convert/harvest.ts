// Activation harvesting: run the model on packed training-split sequences and read, at block L,
// the MLP's input x = blocks.L.ln2.hook_normalized and its output y* = blocks.L.hook_mlp_out,
// one (x, y*) row per token. The forward stops after block L (later blocks cannot change them).
//
// Sequences are numbered globally (epoch after epoch of the training split) and harvested in
// fixed chunks of `harvestBatch` sequences, chunk c = sequences [c·hb, (c+1)·hb). Rows are named
// by (sequence, position), so a resumed run can re-harvest exactly the chunks its buffer held
// and get bit-identical rows (same sequences, same batch shape, deterministic kernels).
import { tf } from '../engine/backend.js'
import { hookNames } from '../engine/hooks.js'
import type { LanguageModel } from '../engine/models/model.js'
import { rowsPerSequence } from '../shared/convert.js'

/** Rows of activations: x [rows, dIn] and y [rows, dOut], row-major, plus each row's name. */
export interface ActivationRows {
  rows: number
  x: Float32Array
  y: Float32Array
  /** Global sequence index and position of each row. */
  seq: Int32Array
  pos: Int32Array
}

/**
 * (x, y*) of every position of `sequences` at block `layer`, in sequence-major order, skipping
 * position 0 when `skipFirst` (a leading BOS; conversions keep it by default, see
 * ConvertConfig.trainOnBos, because the layer is spliced in at that position too).
 */
export function harvestSequences(
  model: LanguageModel,
  layer: number,
  sequences: readonly Int32Array[],
  opts: { skipFirst: boolean; firstSeq?: number },
): ActivationRows {
  const ctx = sequences[0]!.length
  const xName = hookNames.ln2(layer)
  const yName = hookNames.mlpOut(layer)
  const { cache } = model.forward(
    sequences.map((s) => Array.from(s)),
    { stopAfterLayer: layer, cacheNames: [xName, yName] },
  )
  const xs = cache[xName]!
  const ys = cache[yName]!
  const xAll = xs.dataSync() as Float32Array
  const yAll = ys.dataSync() as Float32Array
  tf.dispose([xs, ys])
  const dIn = xs.shape[2]!
  const dOut = ys.shape[2]!
  const from = opts.skipFirst ? 1 : 0
  const perSeq = rowsPerSequence(ctx, opts.skipFirst)
  const rows = sequences.length * perSeq
  const out: ActivationRows = {
    rows,
    x: new Float32Array(rows * dIn),
    y: new Float32Array(rows * dOut),
    seq: new Int32Array(rows),
    pos: new Int32Array(rows),
  }
  for (let s = 0; s < sequences.length; s++) {
    // One contiguous copy per sequence: positions from..ctx-1 of sequence s.
    const r0 = s * perSeq
    out.x.set(xAll.subarray((s * ctx + from) * dIn, (s + 1) * ctx * dIn), r0 * dIn)
    out.y.set(yAll.subarray((s * ctx + from) * dOut, (s + 1) * ctx * dOut), r0 * dOut)
    for (let p = 0; p < perSeq; p++) {
      out.seq[r0 + p] = (opts.firstSeq ?? 0) + s
      out.pos[r0 + p] = from + p
    }
  }
  return out
}

/** Opens the packed training-split sequences of one epoch (the stream restarts each epoch). */
export type OpenEpoch = (epoch: number) => AsyncIterable<Int32Array>

/**
 * The global sequence stream: epoch 0, then epoch 1 (reshuffled by its own seed), … Position is
 * the index of the next sequence; skipping (for a resume) only tokenizes, it runs no model.
 */
export class SequenceStream {
  position = 0
  epoch = 0
  private it: AsyncIterator<Int32Array> | undefined
  private inEpoch = 0

  constructor(
    private readonly open: OpenEpoch,
    private readonly onEpoch?: (epoch: number, sequencesInLastEpoch: number) => void,
  ) {}

  async next(): Promise<Int32Array> {
    for (let attempt = 0; attempt < 2; attempt++) {
      this.it ??= this.open(this.epoch)[Symbol.asyncIterator]()
      const r = await this.it.next()
      if (!r.done) {
        this.position++
        this.inEpoch++
        return r.value
      }
      if (this.inEpoch === 0) break
      this.epoch++
      this.onEpoch?.(this.epoch, this.inEpoch)
      this.inEpoch = 0
      this.it = undefined
    }
    throw new Error('The training split yields no complete sequence: the dataset is too small for this context length (try a smaller --ctx or more text).')
  }

  /** Advances to `position` without harvesting, calling `keep` for the sequences a caller needs. */
  async seek(position: number, keep?: (index: number, ids: Int32Array) => void): Promise<void> {
    if (position < this.position) throw new Error(`cannot seek back from sequence ${this.position} to ${position}`)
    while (this.position < position) {
      const index = this.position
      const ids = await this.next()
      keep?.(index, ids)
    }
  }
}

/** Harvest chunks from a sequence stream, timing the model's work (harvest throughput). */
export class Harvester {
  /** Tokens run through the model, and the seconds it took (tokenization included). */
  tokens = 0
  seconds = 0

  constructor(
    private readonly model: LanguageModel,
    private readonly layer: number,
    readonly stream: SequenceStream,
    readonly harvestBatch: number,
    readonly skipFirst: boolean,
    /** Sees every chunk the model produced (the conversion's test seam). */
    private readonly onRows?: (rows: ActivationRows) => void,
  ) {}

  /** The next chunk of `harvestBatch` sequences (the stream must sit on a chunk boundary). */
  async nextChunk(): Promise<ActivationRows> {
    const t0 = performance.now()
    const firstSeq = this.stream.position
    if (firstSeq % this.harvestBatch !== 0) throw new Error(`harvest stream is at sequence ${firstSeq}, not on a chunk boundary`)
    const seqs: Int32Array[] = []
    for (let i = 0; i < this.harvestBatch; i++) seqs.push(await this.stream.next())
    this.seconds += (performance.now() - t0) / 1000 // reading and tokenizing count as harvest time
    return this.run(seqs, firstSeq)
  }

  /** Runs the model on given sequences (a resume re-harvesting the chunks its buffer held). */
  run(seqs: Int32Array[], firstSeq: number): ActivationRows {
    const t0 = performance.now()
    const rows = harvestSequences(this.model, this.layer, seqs, { skipFirst: this.skipFirst, firstSeq })
    this.tokens += seqs.length * seqs[0]!.length
    this.seconds += (performance.now() - t0) / 1000
    this.onRows?.(rows)
    return rows
  }

  get tokensPerSecond(): number {
    return this.seconds > 0 ? this.tokens / this.seconds : 0
  }
}
