// The shuffled activation buffer between harvesting and training (as dictionary_learning's
// ActivationBuffer): it holds `capacity` rows; each batch takes rows drawn uniformly at random
// among those not yet read, and once half the buffer has been read it is refilled with freshly
// harvested rows. Consecutive tokens of one text thus land in different batches, and every row
// harvested is yielded exactly once.
//
// One addition: a row still unread after `maxAge` refills is yielded first (it is "overdue").
// Without the cap a few rows would linger for many refills, and a resumed run, which must rebuild
// the buffer by re-harvesting the chunks its rows came from, would have to re-run the model on
// many old chunks for a handful of rows; with it, at most maxAge + 1 refills' worth.
//
// Everything is deterministic for a seed: the draws of refill window r come from Rng(seed, r),
// and the state (slot contents by row name, the unread order, counters) is small enough to go
// into every checkpoint (stateArrays / restore).
import { Rng } from '../data/shuffle.js'
import type { ActivationRows } from './harvest.js'

export interface BufferOptions {
  capacity: number
  dIn: number
  dOut: number
  seed: number
  /** Refills an unread row may wait before it is yielded ahead of the random draws. */
  maxAge?: number
}

export interface Batch {
  x: Float32Array
  y: Float32Array
}

/** What a checkpoint keeps of a buffer: row names per slot, the unread order, counters. */
export interface BufferState {
  /** Per slot: the global sequence index of its row (−1: empty) and the position in it. */
  slotSeq: Int32Array
  slotPos: Int32Array
  /** Per slot: the refill that brought its row. */
  slotBorn: Int32Array
  /** Overdue slots, in order, then the other unread slots, in order. */
  queue: Int32Array
  overdue: number
  refills: number
  draws: number
}

export class ActivationBuffer {
  readonly capacity: number
  readonly maxAge: number
  private readonly x: Float32Array
  private readonly y: Float32Array
  private readonly slotSeq: Int32Array
  private readonly slotPos: Int32Array
  private readonly slotBorn: Int32Array
  /** Unread slots drawn at random: unread[0..nUnread). */
  private unread: Int32Array
  private nUnread = 0
  /** Overdue slots, yielded first in order: overdue[overdueHead..overdue.length). */
  private overdue: number[] = []
  private overdueHead = 0
  /** Refills completed; the draws of the window after refill r use Rng(seed, r). */
  private refills = 0
  private draws = 0
  private rng: Rng

  constructor(private readonly opts: BufferOptions) {
    this.capacity = opts.capacity
    this.maxAge = opts.maxAge ?? 4
    this.x = new Float32Array(opts.capacity * opts.dIn)
    this.y = new Float32Array(opts.capacity * opts.dOut)
    this.slotSeq = new Int32Array(opts.capacity).fill(-1)
    this.slotPos = new Int32Array(opts.capacity)
    this.slotBorn = new Int32Array(opts.capacity)
    this.unread = new Int32Array(opts.capacity)
    this.rng = windowRng(opts.seed, 0)
  }

  /** Rows not yet yielded. */
  get available(): number {
    return this.nUnread + this.overdue.length - this.overdueHead
  }

  get free(): number {
    return this.capacity - this.available
  }

  /** Half read (or less than a batch left): time to refill. */
  needsRefill(batch = 0): boolean {
    return this.available <= this.capacity / 2 || this.available < batch
  }

  /**
   * Adds one refill's rows (one or more harvested chunks, at most `free` rows), into the empty
   * slots in ascending order, then marks rows waiting for maxAge refills as overdue.
   */
  refill(chunks: readonly ActivationRows[]): void {
    const rows = chunks.reduce((n, c) => n + c.rows, 0)
    if (rows > this.free) throw new Error(`refill of ${rows} rows does not fit in ${this.free} free slots`)
    const { dIn, dOut } = this.opts
    let slot = 0
    for (const c of chunks) {
      for (let r = 0; r < c.rows; r++) {
        while (this.slotSeq[slot]! !== -1) slot++
        this.x.set(c.x.subarray(r * dIn, (r + 1) * dIn), slot * dIn)
        this.y.set(c.y.subarray(r * dOut, (r + 1) * dOut), slot * dOut)
        this.slotSeq[slot] = c.seq[r]!
        this.slotPos[slot] = c.pos[r]!
        this.slotBorn[slot] = this.refills
        this.unread[this.nUnread++] = slot
      }
    }
    this.refills++
    this.draws = 0
    this.rng = windowRng(this.opts.seed, this.refills)
    // Compact the overdue queue and move rows that have waited long enough into it.
    this.overdue = this.overdue.slice(this.overdueHead)
    this.overdueHead = 0
    let kept = 0
    for (let i = 0; i < this.nUnread; i++) {
      const s = this.unread[i]!
      if (this.refills - this.slotBorn[s]! > this.maxAge) this.overdue.push(s)
      else this.unread[kept++] = s
    }
    this.nUnread = kept
  }

  /** A batch of `size` rows (overdue ones first, the rest drawn at random); each is then freed. */
  take(size: number): Batch {
    if (size > this.available) throw new Error(`a batch of ${size} rows was asked of a buffer holding ${this.available}`)
    const { dIn, dOut } = this.opts
    const out: Batch = { x: new Float32Array(size * dIn), y: new Float32Array(size * dOut) }
    for (let b = 0; b < size; b++) {
      let slot: number
      if (this.overdueHead < this.overdue.length) slot = this.overdue[this.overdueHead++]!
      else {
        // Draw uniformly among the unread slots and swap-remove it.
        const j = this.rng.below(this.nUnread)
        this.draws++
        slot = this.unread[j]!
        this.unread[j] = this.unread[--this.nUnread]!
      }
      out.x.set(this.x.subarray(slot * dIn, (slot + 1) * dIn), b * dIn)
      out.y.set(this.y.subarray(slot * dOut, (slot + 1) * dOut), b * dOut)
      this.slotSeq[slot] = -1
    }
    return out
  }

  state(): BufferState {
    const overdue = this.overdue.slice(this.overdueHead)
    const queue = new Int32Array(overdue.length + this.nUnread)
    queue.set(overdue)
    queue.set(this.unread.subarray(0, this.nUnread), overdue.length)
    return {
      slotSeq: this.slotSeq.slice(),
      slotPos: this.slotPos.slice(),
      slotBorn: this.slotBorn.slice(),
      queue,
      overdue: overdue.length,
      refills: this.refills,
      draws: this.draws,
    }
  }

  /** Sequence indices whose rows are in the buffer (what a resume must re-harvest). */
  static sequencesHeld(state: BufferState): Set<number> {
    const out = new Set<number>()
    for (const s of state.slotSeq) if (s >= 0) out.add(s)
    return out
  }

  /**
   * Puts a saved state back; `rowOf(seq, pos)` gives the re-harvested x and y of each held row
   * (the caller re-runs the model on the chunks sequencesHeld names).
   */
  restore(state: BufferState, rowOf: (seq: number, pos: number) => Batch): void {
    const { dIn, dOut } = this.opts
    if (state.slotSeq.length !== this.capacity) throw new Error(`saved buffer holds ${state.slotSeq.length} slots, this one ${this.capacity}`)
    for (let slot = 0; slot < this.capacity; slot++) {
      const seq = state.slotSeq[slot]!
      this.slotSeq[slot] = seq
      this.slotPos[slot] = state.slotPos[slot]!
      this.slotBorn[slot] = state.slotBorn[slot]!
      if (seq < 0) continue
      const row = rowOf(seq, state.slotPos[slot]!)
      this.x.set(row.x, slot * dIn)
      this.y.set(row.y, slot * dOut)
    }
    this.overdue = Array.from(state.queue.subarray(0, state.overdue))
    this.overdueHead = 0
    this.nUnread = state.queue.length - state.overdue
    this.unread.set(state.queue.subarray(state.overdue))
    this.refills = state.refills
    this.rng = windowRng(this.opts.seed, this.refills)
    for (let i = 0; i < state.draws; i++) this.rng.below(1) // replay the window's draws
    this.draws = state.draws
  }
}

/** The draws after refill r: a generator of its own, so a resume can replay them from r's start. */
function windowRng(seed: number, refill: number): Rng {
  return new Rng((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(refill + 1, 0x85ebca6b)) >>> 0)
}
