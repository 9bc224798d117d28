// The benchmark's model and input: GPT-2 small's shape (124M parameters) with random weights, and
// one batch of random token ids. Shared by the engine worker and the driver (which passes the same
// numbers to the PyTorch worker), so both sides run exactly the same shapes.

export interface BenchShape {
  nLayers: number
  dModel: number
  nHeads: number
  vocab: number
  nPositions: number
  batch: number
  seq: number
}

export const GPT2_SMALL: BenchShape = {
  nLayers: 12,
  dModel: 768,
  nHeads: 12,
  vocab: 50257,
  nPositions: 1024,
  batch: 8,
  seq: 128,
}

/**
 * Multiply-add FLOPs (2 per MAC) of one forward with logits at every position: the matMuls only
 * (norms, softmax and GELU are < 1% of it). Attention products are counted in full (q·kᵀ over all
 * keys, as both implementations compute them before masking).
 */
export function forwardFlops(s: BenchShape): number {
  const tokens = s.batch * s.seq
  const d = s.dModel
  const perLayer = 2 * tokens * (d * 3 * d + d * d + 2 * d * 4 * d) + 2 * 2 * s.batch * s.seq * s.seq * d
  return s.nLayers * perLayer + 2 * tokens * d * s.vocab
}

/** Small deterministic PRNG (mulberry32), so both sides can reproduce the same token ids. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The benchmark batch: batch × seq token ids, uniform over the vocabulary. */
export function benchIds(s: BenchShape, seed = 1234): number[][] {
  const rand = mulberry32(seed)
  return Array.from({ length: s.batch }, () => Array.from({ length: s.seq }, () => Math.floor(rand() * s.vocab)))
}
