// Text generation with a KV cache: the prompt is run once, then each step feeds only the newest
// token and reuses the cached keys/values, which gives the same logits as re-running the whole
// sequence (test/unit/engine/generate.test.ts checks it) at a fraction of the cost.
// Decoding is greedy by default; with a temperature it samples, optionally restricted by top-k
// and top-p, from a seeded PRNG of our own so that a seed reproduces a completion exactly on any
// machine (steering comparisons show DEFAULT and STEERED side by side with the same seed).
import { randomInt } from 'node:crypto'
import { assertFiniteLogits } from './finite.js'
import type { ForwardOptions, LanguageModel } from './models/model.js'
import { KVCache } from './models/kv-cache.js'

/** The one tokenizer method generation needs (TextTokenizer satisfies it). */
export interface TokenDecoder {
  decode(ids: number[]): string
}

export interface SamplingOptions {
  /** 0 or absent: greedy (argmax). Otherwise logits are divided by it before sampling. */
  temperature?: number
  /** Sample only among the k most likely tokens (absent or 0: all). */
  topK?: number
  /** Sample only from the smallest set of tokens whose probability reaches p (absent or 1: all). */
  topP?: number
  /** Subtracted from a token's logit once per time it was already generated (OpenAI's definition). */
  frequencyPenalty?: number
  /** PRNG seed; absent: a random one, reported in the result so the run can be repeated. */
  seed?: number
}

export interface GenerateOptions extends SamplingOptions {
  /** The model as the user knows it (its folder), named in errors. */
  modelName?: string
  maxNewTokens: number
  /** Token ids that end generation; default: the model's EOS ids from config.json. */
  stopIds?: readonly number[]
  /** When given, each token also carries the text it adds. */
  tokenizer?: TokenDecoder | null
  /** Hooks / MLP replacements applied at every step (e.g. steering). */
  forward?: Pick<ForwardOptions, 'hooks' | 'mlpReplacements'>
  signal?: AbortSignal
  /** Report the model's n most likely next tokens (softmax of the raw logits) with each token. */
  topPredictions?: number
}

export interface GeneratedToken {
  id: number
  /** 0 for the first generated token. */
  index: number
  /** The text this token adds (may be '' while a multi-byte character is incomplete), or null without a tokenizer. */
  text: string | null
  /** The model's most likely next tokens at this step, when topPredictions was asked for. */
  top?: { id: number; prob: number }[]
}

export type StopReason = 'eos' | 'max_tokens' | 'context_full' | 'aborted'

export interface GenerationResult {
  ids: number[]
  text: string | null
  stopReason: StopReason
  seed: number
}

/**
 * Streams generated tokens. The generator's return value (what a manual `next()` loop sees when
 * done) is the GenerationResult; `generate()` below collects it for you.
 */
export async function* generateTokens(
  model: LanguageModel,
  promptIds: readonly number[],
  opts: GenerateOptions,
): AsyncGenerator<GeneratedToken, GenerationResult, void> {
  if (promptIds.length === 0) throw new Error('generation needs at least one prompt token (e.g. the BOS token)')
  const seed = opts.seed ?? randomInt(2 ** 31)
  const sampler = new Sampler(opts, seed)
  const stopIds = new Set(opts.stopIds ?? model.dims.eosIds)
  const text = opts.tokenizer ? new TextPieces(opts.tokenizer, promptIds) : null
  const ids: number[] = []
  const cache = new KVCache()
  let stopReason: StopReason = 'max_tokens'
  try {
    let logits = nextLogits(model, [...promptIds], cache, opts, promptIds)
    while (ids.length < opts.maxNewTokens) {
      if (opts.signal?.aborted) {
        stopReason = 'aborted'
        break
      }
      const top = opts.topPredictions ? topProbabilities(logits, opts.topPredictions) : undefined
      const id = sampler.pick(logits)
      ids.push(id)
      yield { id, index: ids.length - 1, text: text ? text.add(id) : null, ...(top ? { top } : {}) }
      if (stopIds.has(id)) {
        stopReason = 'eos'
        break
      }
      if (ids.length >= opts.maxNewTokens) break
      if (promptIds.length + ids.length >= model.dims.maxPositions) {
        stopReason = 'context_full'
        break
      }
      logits = nextLogits(model, [id], cache, opts, [...promptIds, ...ids])
      await new Promise((resolve) => setImmediate(resolve)) // let the event loop breathe
    }
  } finally {
    cache.dispose()
  }
  return { ids, text: text ? text.full() : null, stopReason, seed }
}

/** Runs generation to the end, calling onToken for each token as it is produced. */
export async function generate(
  model: LanguageModel,
  promptIds: readonly number[],
  opts: GenerateOptions & { onToken?: (token: GeneratedToken) => void },
): Promise<GenerationResult> {
  const tokens = generateTokens(model, promptIds, opts)
  for (;;) {
    const step = await tokens.next()
    if (step.done) return step.value
    opts.onToken?.(step.value)
  }
}

/**
 * Feeds `ids` after what the cache holds; returns the logits of the last position. Non-finite
 * logits are an error naming where the forward of `sequence` (everything so far) went non-finite:
 * sampling from them would silently pick token 0.
 */
function nextLogits(model: LanguageModel, ids: number[], cache: KVCache, opts: GenerateOptions, sequence: readonly number[]): Float32Array {
  const { logits } = model.forward([ids], { ...opts.forward, kvCache: cache, lastPositionOnly: true })
  const values = logits!.dataSync() as Float32Array
  logits!.dispose()
  assertFiniteLogits(model, sequence, values, opts.forward, opts.modelName)
  return values
}

// ------------------------------------------------------------------------------------ sampling

/** The n most likely tokens under softmax(logits), most likely first. */
export function topProbabilities(logits: Float32Array, n: number): { id: number; prob: number }[] {
  let max = -Infinity
  for (const v of logits) if (v > max) max = v
  let sum = 0
  for (const v of logits) sum += Math.exp(v - max)
  const best: { id: number; prob: number }[] = []
  for (let id = 0; id < logits.length; id++) {
    const prob = Math.exp(logits[id]! - max) / sum
    if (best.length < n || prob > best[best.length - 1]!.prob) {
      best.push({ id, prob })
      best.sort((a, b) => b.prob - a.prob)
      if (best.length > n) best.pop()
    }
  }
  return best
}

/** mulberry32: a tiny, well-mixed 32-bit PRNG; uniform in [0, 1). */
export function createRng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Chooses each next token: frequency penalty, then greedy or temperature / top-k / top-p sampling. */
export class Sampler {
  private readonly counts = new Map<number, number>()
  private readonly random: () => number

  constructor(
    private readonly opts: SamplingOptions,
    seed: number,
  ) {
    if ((opts.temperature ?? 0) < 0) throw new Error('temperature must be ≥ 0')
    if (opts.topP !== undefined && !(opts.topP > 0 && opts.topP <= 1)) throw new Error('topP must be in (0, 1]')
    this.random = createRng(seed)
  }

  pick(logits: Float32Array): number {
    const scores = this.penalised(logits)
    const temperature = this.opts.temperature ?? 0
    const id = temperature === 0 ? argmax(scores) : this.sample(scores, temperature)
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1)
    return id
  }

  private penalised(logits: Float32Array): Float32Array {
    const penalty = this.opts.frequencyPenalty ?? 0
    if (penalty === 0 || this.counts.size === 0) return logits
    const out = Float32Array.from(logits)
    for (const [id, count] of this.counts) out[id] = (out[id] as number) - penalty * count
    return out
  }

  private sample(scores: Float32Array, temperature: number): number {
    // Candidates by decreasing score; ties keep the lower id first, as argmax does, so top-k = 1
    // is exactly greedy.
    let order = Array.from(scores.keys()).sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b)
    if (this.opts.topK) order = order.slice(0, this.opts.topK)
    const top = scores[order[0] as number] as number
    let probs = order.map((id) => Math.exp(((scores[id] as number) - top) / temperature))
    const total = probs.reduce((a, b) => a + b, 0)
    probs = probs.map((p) => p / total)
    const keep = nucleusSize(probs, this.opts.topP ?? 1)
    const mass = probs.slice(0, keep).reduce((a, b) => a + b, 0)
    let r = this.random() * mass
    for (let i = 0; i < keep; i++) {
      r -= probs[i] as number
      if (r < 0) return order[i] as number
    }
    return order[keep - 1] as number // r landed on the rounding error at the end
  }
}

/** How many of the (descending) probabilities it takes to reach p; at least one. */
function nucleusSize(sortedProbs: number[], p: number): number {
  if (p >= 1) return sortedProbs.length
  let cumulative = 0
  for (let i = 0; i < sortedProbs.length; i++) {
    cumulative += sortedProbs[i] as number
    if (cumulative >= p) return i + 1
  }
  return sortedProbs.length
}

function argmax(values: Float32Array): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i
  return best
}

// ---------------------------------------------------------------------------------- text pieces

/**
 * Turns a token stream into text pieces. Tokens are not characters: a byte-level BPE token can
 * hold half of a UTF-8 character and SentencePiece decodes a leading space depending on context,
 * so each step decodes prompt + generated tokens and emits what was appended, holding back while
 * the text ends in an incomplete character (U+FFFD). The result's `text` is authoritative should
 * a tokenizer ever rewrite earlier characters.
 */
class TextPieces {
  private readonly generated: number[] = []
  private readonly promptText: string
  private emitted = ''

  constructor(
    private readonly tokenizer: TokenDecoder,
    private readonly prompt: readonly number[],
  ) {
    this.promptText = tokenizer.decode([...prompt])
  }

  add(id: number): string {
    this.generated.push(id)
    const text = this.current()
    if (text.endsWith('\uFFFD') || text.length <= this.emitted.length) return ''
    const piece = text.slice(this.emitted.length)
    this.emitted = text
    return piece
  }

  full(): string {
    return this.current()
  }

  private current(): string {
    const all = this.tokenizer.decode([...this.prompt, ...this.generated])
    return all.startsWith(this.promptText) ? all.slice(this.promptText.length) : this.tokenizer.decode(this.generated)
  }
}
