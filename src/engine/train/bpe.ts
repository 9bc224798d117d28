// A byte-level BPE tokenizer trained on a corpus, written as a Hugging Face tokenizer.json of
// the GPT-2 kind (ByteLevel pre-tokenizer and decoder, BPE model with merges), so the engine's
// TextTokenizer and transformers both load it. A vocabulary made for a small corpus (a few
// thousand tokens) keeps a small model small: GPT-2's 50257-token embedding alone would be
// 12.9M parameters at d = 256.
//
// Training is the textbook algorithm (Sennrich et al.; GPT-2's byte-level variant): split text
// with GPT-2's pre-tokenization regex, count each piece, then repeatedly merge the most frequent
// adjacent pair of symbols, updating only the pieces that contain it.

/** GPT-2's pre-tokenization pattern (contractions, letters, digits, other, whitespace). */
const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu

/** GPT-2's bytes_to_unicode: every byte gets a printable character (so merges are text). */
export function bytesToUnicode(): string[] {
  const bs: number[] = []
  for (let b = 33; b <= 126; b++) bs.push(b)
  for (let b = 161; b <= 172; b++) bs.push(b)
  for (let b = 174; b <= 255; b++) bs.push(b)
  const map: string[] = new Array<string>(256)
  let extra = 0
  for (let b = 0; b < 256; b++) {
    if (bs.includes(b)) map[b] = String.fromCodePoint(b)
    else map[b] = String.fromCodePoint(256 + extra++)
  }
  return map
}

export interface BpeOptions {
  /** Total vocabulary size including the 256 byte tokens and the special tokens. */
  vocabSize: number
  /** Appended after the merges, e.g. ["<|endoftext|>"]. */
  specialTokens: string[]
}

export interface TrainedBpe {
  /** token → id: bytes 0–255 first (id = byte value), then one per merge, then the specials. */
  vocab: Map<string, number>
  merges: [string, string][]
}

export function trainBpe(texts: Iterable<string>, opts: BpeOptions): TrainedBpe {
  const byteChar = bytesToUnicode()
  const encoder = new TextEncoder()
  // Count pre-tokenized pieces.
  const counts = new Map<string, number>()
  for (const text of texts) for (const m of text.matchAll(GPT2_PATTERN)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1)

  const symbols: string[] = byteChar.slice()
  const words: { syms: number[]; count: number }[] = []
  for (const [piece, count] of counts) words.push({ syms: [...encoder.encode(piece)], count })

  // Pair statistics; a pair (a, b) is keyed a·2^16 + b (vocabularies stay below 65 536).
  const key = (a: number, b: number): number => a * 65536 + b
  const pairCount = new Map<number, number>()
  const pairWords = new Map<number, Set<number>>()
  const addWord = (w: number, sign: number): void => {
    const { syms, count } = words[w]!
    for (let i = 0; i + 1 < syms.length; i++) {
      const k = key(syms[i]!, syms[i + 1]!)
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * count)
      if (sign > 0) {
        let set = pairWords.get(k)
        if (!set) pairWords.set(k, (set = new Set()))
        set.add(w)
      }
    }
  }
  words.forEach((_, w) => addWord(w, 1))

  const merges: [string, string][] = []
  const nMerges = opts.vocabSize - 256 - opts.specialTokens.length
  while (merges.length < nMerges) {
    // Most frequent pair; ties go to the smallest key so training is deterministic.
    let best = -1
    let bestCount = 0
    for (const [k, c] of pairCount) if (c > bestCount || (c === bestCount && c > 0 && k < best)) [best, bestCount] = [k, c]
    if (bestCount < 2) break // nothing left worth merging
    const a = Math.floor(best / 65536)
    const b = best % 65536
    const id = symbols.length
    symbols.push(symbols[a]! + symbols[b]!)
    merges.push([symbols[a]!, symbols[b]!])
    for (const w of pairWords.get(best) ?? []) {
      const word = words[w]!
      addWord(w, -1)
      const out: number[] = []
      for (let i = 0; i < word.syms.length; i++) {
        if (i + 1 < word.syms.length && word.syms[i] === a && word.syms[i + 1] === b) {
          out.push(id)
          i++
        } else out.push(word.syms[i]!)
      }
      word.syms = out
      addWord(w, 1)
    }
    pairWords.delete(best)
    pairCount.delete(best)
  }
  const vocab = new Map<string, number>()
  symbols.forEach((s, i) => vocab.set(s, i))
  for (const special of opts.specialTokens) vocab.set(special, vocab.size)
  return { vocab, merges }
}

/** The tokenizer.json of a trained BPE, in the layout GPT-2's own tokenizer.json has. */
export function bpeTokenizerJson(bpe: TrainedBpe, specialTokens: string[]): object {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens.map((content) => ({
      id: bpe.vocab.get(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: true,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(bpe.vocab),
      merges: bpe.merges.map(([a, b]) => `${a} ${b}`),
    },
  }
}

/** tokenizer_config.json for a GPT-2-style tokenizer whose only special token is `eos`. */
export function gpt2TokenizerConfig(eos: string, maxLength: number): object {
  return {
    tokenizer_class: 'GPT2Tokenizer',
    bos_token: eos,
    eos_token: eos,
    unk_token: eos,
    add_bos_token: false,
    add_prefix_space: false,
    model_max_length: maxLength,
    clean_up_tokenization_spaces: false,
  }
}
