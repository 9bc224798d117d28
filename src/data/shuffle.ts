// Seeded randomness for the data pipeline: the same seed gives the same order on every machine
// and Node version (Math.random cannot be seeded).

/** sfc32, seeded through splitmix32: small, fast and statistically sound for shuffling. */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number) {
    let s = seed >>> 0
    const splitmix = (): number => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = splitmix()
    this.b = splitmix()
    this.c = splitmix()
    this.d = splitmix()
    for (let i = 0; i < 12; i++) this.nextUint32()
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextUint32() / 2 ** 32
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n)
  }
}

/** One 32-bit seed from several (a run's seed, an epoch, a step…), well mixed. */
export const mixSeeds = (...parts: number[]): number =>
  parts.reduce((h, p) => (Math.imul(h ^ (p >>> 0), 0x9e3779b1) + 0x7f4a7c15) >>> 0, 0x2545f491)

/** The order of n items in `epoch`: a Fisher–Yates shuffle seeded by (seed, epoch). */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const order = Uint32Array.from({ length: n }, (_, i) => i)
  const rng = new Rng(mixSeeds(seed, epoch))
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1)
    const t = order[i]!
    order[i] = order[j]!
    order[j] = t
  }
  return order
}

export interface ShuffleOptions {
  seed: number
  /** Items held at once: the larger, the better mixed; memory is bufferSize items. */
  bufferSize: number
}

/**
 * A bounded shuffle buffer (as tf.data and webdataset do): fill a buffer, then emit a random
 * element and put the next incoming one in its place; at the end, emit the rest in random order.
 * A full shuffle of a stream too large for memory is impossible; this mixes items within a
 * window of bufferSize, deterministically for a given seed and input order.
 */
export async function* shuffleBuffer<T>(items: AsyncIterable<T> | Iterable<T>, opts: ShuffleOptions): AsyncGenerator<T> {
  if (!(Number.isInteger(opts.bufferSize) && opts.bufferSize >= 1))
    throw new RangeError(`bufferSize must be a whole number ≥ 1, not ${opts.bufferSize}`)
  const rng = new Rng(opts.seed)
  const buffer: T[] = []
  for await (const item of items) {
    if (buffer.length < opts.bufferSize) {
      buffer.push(item)
      continue
    }
    const j = rng.below(buffer.length)
    yield buffer[j]!
    buffer[j] = item
  }
  // Fisher-Yates on what is left.
  for (let i = buffer.length - 1; i >= 0; i--) {
    const j = rng.below(i + 1)
    yield buffer[j]!
    buffer[j] = buffer[i]!
  }
}
