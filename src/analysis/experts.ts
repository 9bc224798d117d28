// Expert specialisation of a μMoE GPT-2 (issue 5): run the model on held-out text, read each
// block's entmax-1.5 gate a (blocks.L.mlp.hook_gate, [pos, n_experts], rows summing to 1) and
// describe every expert by where its gate mass goes:
//   - top tokens: by total gate weight Σ a (with the token's count in the text and the mean
//     weight per occurrence), and by mean weight among tokens seen at least MIN_COUNT times;
//   - top contexts: the positions where the expert's weight is highest, with ±CONTEXT tokens;
//   - token classes (computed from the token text alone, no model hub): whitespace, punctuation,
//     number, name (capitalised word), function word (a fixed list), content word, word piece
//     (a continuation of the previous token's word); and, for the KJV corpus, the section of the
//     Bible the token's chapter belongs to ("theme", kjv-themes.ts).
// Class (and theme) shares are base-rate balanced: share(c) ∝ mean gate weight over the tokens of
// class c, i.e. the distribution the expert would show on text in which every class is equally
// frequent. (Raw mass shares are reported too, but they mostly repeat the text's make-up:
// function words are ~40% of KJV tokens, so nearly every expert "puts most mass" on them.)
// An expert is *specialised* when one class holds ≥ 50% of its gate mass both raw and balanced
// (balanced alone would let a rare class win on a handful of tokens: numbers are 0.2% of KJV
// tokens), or one theme does the same, or one token holds ≥ 50% of its (raw) gate mass.
// Experts whose gate mass is below 10% of a uniform share are "inactive" and left out of the
// fractions. Everything is deterministic for a given model and text, and the same text and
// metrics serve every expert count, so 8, 32 and 128 experts compare directly.
import { readDocuments } from '../data/read.js'
import { splitOf, type SplitOptions } from '../data/split.js'
import { tf } from '../engine/backend.js'
import { hookNames } from '../engine/hooks.js'
import { loadLanguageModel } from '../engine/models/load.js'
import { TextTokenizer } from '../engine/tokenizer.js'
import type { LanguageModel } from '../engine/models/model.js'
import type {
  ExpertAnalysis,
  ExpertContext,
  ExpertReport,
  LayerReport,
  Specialisation,
  SpecialisationSummary,
  TokenStat,
} from '../shared/experts.js'
import { KJV_SECTIONS, kjvSection } from './kjv-themes.js'
import { argmax, balanced, classDominance, isActive, median, THRESHOLDS } from './specialisation.js'

// The thresholds and the dominance rule are shared with the image expert view (specialisation.ts).
export { THRESHOLDS }

/** A problem with the model or the text that the user can fix (a dense model, too little text). */
export class ExpertAnalysisError extends Error {}

export const TOKEN_CLASSES = ['whitespace', 'punctuation', 'number', 'name', 'function word', 'content word', 'word piece'] as const
export type TokenClass = (typeof TOKEN_CLASSES)[number]

const TOP_TOKENS = 16
const MIN_COUNT = 3
const TOP_CONTEXTS = 8
const CONTEXT = 8

/** English function words (closed classes: articles, pronouns, prepositions, conjunctions, auxiliaries), KJV forms included. */
const FUNCTION_WORDS = new Set(
  (
    'a an the and or but nor for so yet if then than that this these those there here which who whom whose what when where why how ' +
    'i me my mine we us our ours you your yours he him his she her hers it its they them their theirs myself himself herself itself ' +
    'ourselves themselves yourselves thee thou thy thine ye unto upon of to in on at by with from into out up down over under about ' +
    'against among before after behind between through throughout toward towards within without above below not no nay yea ' +
    'is am are was were be been being have has had hath hast having do does did doth dost shall shalt will wilt would should ' +
    'may might must can could art all any both each every some such also even as o neither either because therefore wherefore ' +
    'whither thither hither whence thence until till while whilst lest'
  ).split(/\s+/),
)

/**
 * The class of one token from its text and the previous token's text (null at a sequence start):
 * a letter run glued to a preceding letter is a word piece, whatever it spells.
 */
export function classifyToken(text: string, previous: string | null): TokenClass {
  const trimmed = text.trim()
  if (trimmed.length === 0 || /^<\|.*\|>$/.test(trimmed)) return 'whitespace'
  if (/^\p{L}/u.test(text) && previous !== null && /\p{L}$/u.test(previous)) return 'word piece'
  if (/^[\p{P}\p{S}]+$/u.test(trimmed)) return 'punctuation'
  if (/\p{N}/u.test(trimmed) && !/\p{L}/u.test(trimmed)) return 'number'
  if (FUNCTION_WORDS.has(trimmed.toLowerCase())) return 'function word'
  if (/^\p{Lu}/u.test(trimmed)) return 'name'
  return 'content word'
}

// ------------------------------------------------------------------------------- the text

/** Token sequences of the text an analysis reads, with what each position is. */
export interface AnalysisText {
  /** Sequences of equal length (the model's context or less). */
  sequences: Int32Array[]
  /** The text of a token id (tokenizer.decode([id])). */
  tokenText: (id: number) => string
  /** Theme names and, per sequence, each position's theme index (-1: none); null without themes. */
  themes: { names: readonly string[]; of: Int16Array[] } | null
}

export interface HeldoutTextOptions extends SplitOptions {
  seqLen: number
  /** Tokens wanted; whole sequences, spread evenly over the held-out split. */
  tokens: number
  /** Stop reading held-out documents after this many tokens (default 64× tokens). */
  maxReadTokens?: number
}

interface Tokenizer {
  eosId: number | null
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[]
  decode(ids: number[]): string
}

/**
 * The held-out documents of `dataPath` (the data module's seeded by-document split, so a model
 * pre-trained on the same path never saw them), tokenized with EOS between documents, cut into
 * sequences of seqLen, of which ⌈tokens / seqLen⌉ are taken at an even stride: the sample covers
 * the whole split (every section of the Bible) rather than its first chapters. Themes exist when
 * every held-out document is a KJV chapter.
 */
export async function heldoutText(dataPath: string, tokenizer: Tokenizer, o: HeldoutTextOptions): Promise<AnalysisText> {
  const stream: number[] = []
  const themeStream: number[] = []
  let allKjv = true
  const limit = o.maxReadTokens ?? 64 * o.tokens
  for await (const doc of readDocuments(dataPath)) {
    if (doc.kind !== 'text') throw new ExpertAnalysisError(`${dataPath} is pre-tokenized: the expert analysis reads text`)
    if (splitOf(doc, o) !== 'heldout') continue
    const ids = tokenizer.encode(doc.text, { addSpecialTokens: false })
    if (tokenizer.eosId !== null) ids.push(tokenizer.eosId)
    const section = kjvSection(doc.text)
    if (section === null) allKjv = false
    for (const id of ids) {
      stream.push(id)
      themeStream.push(section ?? -1)
    }
    if (stream.length >= limit) break
  }
  const available = Math.floor(stream.length / o.seqLen)
  if (available === 0) throw new ExpertAnalysisError(`The held-out split of ${dataPath} has fewer than ${o.seqLen} tokens.`)
  const wanted = Math.min(available, Math.max(1, Math.ceil(o.tokens / o.seqLen)))
  const sequences: Int32Array[] = []
  const themes: Int16Array[] = []
  for (let i = 0; i < wanted; i++) {
    const start = Math.floor((i * available) / wanted) * o.seqLen
    sequences.push(Int32Array.from(stream.slice(start, start + o.seqLen)))
    themes.push(Int16Array.from(themeStream.slice(start, start + o.seqLen)))
  }
  const texts = new Map<number, string>()
  const tokenText = (id: number): string => {
    let text = texts.get(id)
    if (text === undefined) texts.set(id, (text = tokenizer.decode([id])))
    return text
  }
  return { sequences, tokenText, themes: allKjv ? { names: KJV_SECTIONS, of: themes } : null }
}

// ------------------------------------------------------------------------------- the gates

/** Number of experts of a μMoE GPT-2, or null for a model without μMoE MLPs. */
export function expertCount(model: LanguageModel): number | null {
  const kind = model.config.mlp_kind
  const n = model.config.n_experts
  return (kind === 'cpmoe' || kind === 'trmoe') && typeof n === 'number' ? n : null
}

/**
 * Every block's gate weights over the text: per layer a [positions × n_experts] array, positions
 * in sequence order. Runs the blocks only (no unembedding), `batch` sequences at a time.
 */
export async function collectGates(
  model: LanguageModel,
  sequences: readonly Int32Array[],
  opts: { batch?: number; onBatch?: (done: number) => void; cancelled?: () => boolean } = {},
): Promise<Float32Array[] | null> {
  const n = expertCount(model)
  if (n === null) throw new ExpertAnalysisError('The model has no μMoE MLPs (config.json mlp_kind is not cpmoe or trmoe)')
  const seqLen = sequences[0]?.length ?? 0
  const names = Array.from({ length: model.nLayers }, (_, l) => hookNames.mlpGate(l))
  const gates = names.map(() => new Float32Array(sequences.length * seqLen * n))
  const batch = opts.batch ?? 8
  for (let start = 0; start < sequences.length; start += batch) {
    if (opts.cancelled?.()) return null
    const ids = sequences.slice(start, start + batch).map((s) => Array.from(s))
    const { cache } = model.forward(ids, { cacheNames: names, stopAfterLayer: model.nLayers - 1 })
    for (const [l, name] of names.entries()) {
      const t = cache[name] as tf.Tensor
      ;(gates[l] as Float32Array).set(await t.data(), start * seqLen * n)
      t.dispose()
    }
    opts.onBatch?.(Math.min(sequences.length, start + batch))
    await new Promise((r) => setImmediate(r))
  }
  return gates
}

// ------------------------------------------------------------------------------- the analysis

/** The analysis of gate weights `gates` (per layer, [positions × nExperts]) over `text`. */
export function analyzeGates(
  text: AnalysisText,
  gates: readonly Float32Array[],
  nExperts: number,
  about: { model: string; source: string },
): ExpertAnalysis {
  const seqLen = text.sequences[0]?.length ?? 0
  const ids = new Int32Array(text.sequences.length * seqLen)
  text.sequences.forEach((s, i) => ids.set(s, i * seqLen))
  const T = ids.length
  const K = TOKEN_CLASSES.length
  const classOf = new Uint8Array(T)
  for (let t = 0; t < T; t++) {
    const previous = t % seqLen === 0 ? null : text.tokenText(ids[t - 1] as number)
    classOf[t] = TOKEN_CLASSES.indexOf(classifyToken(text.tokenText(ids[t] as number), previous))
  }
  const themeOf = text.themes ? Int16Array.from(text.themes.of.flatMap((s) => Array.from(s))) : null
  const nThemes = text.themes?.names.length ?? 0
  const classCount = new Float64Array(K)
  for (const c of classOf) classCount[c]!++
  const themeCount = new Float64Array(nThemes)
  if (themeOf) for (const th of themeOf) if (th >= 0) themeCount[th]!++
  const tokenCount = new Map<number, number>()
  for (const id of ids) tokenCount.set(id, (tokenCount.get(id) ?? 0) + 1)

  const layers = gates.map((a, layer): LayerReport => {
    if (a.length !== T * nExperts) throw new Error(`layer ${layer}: ${a.length} gate weights for ${T} positions × ${nExperts} experts`)
    const experts = Array.from({ length: nExperts }, (_, e) => expertReport(e))
    return { layer, experts, summary: summarise(experts) }

    function expertReport(e: number): ExpertReport {
      let mass = 0
      let nonzero = 0
      const byToken = new Map<number, number>()
      const byClass = new Float64Array(K)
      const byTheme = new Float64Array(nThemes)
      const top: { weight: number; t: number }[] = []
      for (let t = 0; t < T; t++) {
        const w = a[t * nExperts + e] as number
        if (w <= 0) continue
        mass += w
        nonzero++
        const id = ids[t] as number
        byToken.set(id, (byToken.get(id) ?? 0) + w)
        byClass[classOf[t] as number]! += w
        if (themeOf && (themeOf[t] as number) >= 0) byTheme[themeOf[t] as number]! += w
        // Top positions, highest weight first; ties keep the earlier position.
        if (top.length < TOP_CONTEXTS || w > (top[top.length - 1] as { weight: number }).weight) {
          let i = top.length
          while (i > 0 && (top[i - 1] as { weight: number }).weight < w) i--
          top.splice(i, 0, { weight: w, t })
          if (top.length > TOP_CONTEXTS) top.pop()
        }
      }
      const stat = ([id, weight]: [number, number]): TokenStat => {
        const count = tokenCount.get(id) as number
        return { id, text: text.tokenText(id), weight, count, mean: weight / count, share: mass > 0 ? weight / mass : 0 }
      }
      const tokens = [...byToken.entries()].map(stat)
      const topTokens = [...tokens].sort((x, y) => y.weight - x.weight || x.id - y.id).slice(0, TOP_TOKENS)
      const topTokensByMean = tokens
        .filter((s) => s.count >= MIN_COUNT)
        .sort((x, y) => y.mean - x.mean || x.id - y.id)
        .slice(0, TOP_TOKENS)
      const { classMass, classBalanced, topClass: topClassIndex, dominated, entropy } = classDominance(byClass, classCount)
      const themeBalanced = themeOf ? balanced(byTheme, themeCount) : null
      const active = isActive(mass, T, nExperts)
      const specialisedBy: Specialisation[] = []
      if (dominated) {
        specialisedBy.push({ by: 'class', label: TOKEN_CLASSES[topClassIndex] as string, share: classBalanced[topClassIndex] as number })
      }
      const topThemeIndex = themeBalanced ? argmax(themeBalanced) : -1
      if (
        themeBalanced &&
        themeBalanced[topThemeIndex]! >= THRESHOLDS.classShare &&
        byTheme[topThemeIndex]! / mass >= THRESHOLDS.classShare
      ) {
        specialisedBy.push({
          by: 'theme',
          label: text.themes!.names[topThemeIndex] as string,
          share: themeBalanced[topThemeIndex] as number,
        })
      }
      const first = topTokens[0]
      if (first && first.share >= THRESHOLDS.tokenShare) specialisedBy.push({ by: 'token', label: first.text, share: first.share })
      specialisedBy.sort((x, y) => y.share - x.share)
      return {
        expert: e,
        massShare: mass / T,
        activeFraction: nonzero / T,
        active,
        topTokens,
        topTokensByMean,
        topContexts: top.map(({ weight, t }) => context(weight, t)),
        classMass,
        classBalanced,
        topClass: TOKEN_CLASSES[topClassIndex] as string,
        classEntropy: entropy,
        themeBalanced,
        topTheme: themeBalanced ? (text.themes!.names[topThemeIndex] as string) : null,
        specialisedBy: active ? specialisedBy : [],
      }
    }
  })

  function context(weight: number, t: number): ExpertContext {
    const sequence = Math.floor(t / seqLen)
    const position = t % seqLen
    const start = sequence * seqLen
    const texts = (from: number, to: number): string[] => Array.from(ids.subarray(from, to), (id) => text.tokenText(id))
    return {
      weight,
      sequence,
      position,
      before: texts(Math.max(start, t - CONTEXT), t),
      token: text.tokenText(ids[t] as number),
      after: texts(t + 1, Math.min(start + seqLen, t + 1 + CONTEXT)),
    }
  }

  function summarise(experts: ExpertReport[]): SpecialisationSummary {
    const active = experts.filter((x) => x.active)
    const frac = (f: (x: ExpertReport) => boolean): number => (active.length > 0 ? active.filter(f).length / active.length : 0)
    const has = (x: ExpertReport, by: Specialisation['by']): boolean => x.specialisedBy.some((s) => s.by === by)
    const counts = (by: Specialisation['by'], names: readonly string[]): Record<string, number> =>
      Object.fromEntries(
        names.map((name) => [name, active.filter((x) => x.specialisedBy.some((s) => s.by === by && s.label === name)).length]),
      )
    const entropies = active.map((x) => x.classEntropy).sort((p, q) => p - q)
    return {
      experts: experts.length,
      active: active.length,
      specialised: frac((x) => x.specialisedBy.length > 0),
      byClass: frac((x) => has(x, 'class')),
      byTheme: text.themes ? frac((x) => has(x, 'theme')) : null,
      byToken: frac((x) => has(x, 'token')),
      meanClassEntropy: entropies.length > 0 ? entropies.reduce((s, h) => s + h, 0) / entropies.length : 0,
      medianClassEntropy: median(entropies),
      classCounts: counts('class', TOKEN_CLASSES),
      themeCounts: text.themes ? counts('theme', text.themes.names) : null,
    }
  }

  return {
    model: about.model,
    nExperts,
    nLayers: gates.length,
    text: { source: about.source, sequences: text.sequences.length, seqLen, tokens: T },
    classes: [...TOKEN_CLASSES],
    classBase: Array.from(classCount, (c) => c / T),
    themes: text.themes ? [...text.themes.names] : null,
    themeBase: text.themes ? Array.from(themeCount, (c) => c / T) : null,
    thresholds: { ...THRESHOLDS },
    summary: summarise(layers.flatMap((l) => l.experts)),
    layers,
  }
}

// ------------------------------------------------------------------------------- the pipeline

export interface AnalyzeOptions {
  data: string
  tokens: number
  heldOutFraction?: number
  splitSeed?: number
  seqLen?: number
  onProgress?: (done: number, total: number) => void
  cancelled?: () => boolean
}

/** The whole analysis of the μMoE GPT-2 in `modelDir`; null when cancelled. */
export async function analyzeModelFolder(modelDir: string, o: AnalyzeOptions): Promise<ExpertAnalysis | null> {
  const model = await loadLanguageModel(modelDir)
  try {
    const nExperts = expertCount(model)
    if (nExperts === null)
      throw new ExpertAnalysisError(`${modelDir} has dense MLPs: the expert analysis needs a μMoE model (mlp_kind cpmoe or trmoe)`)
    const tokenizer = TextTokenizer.fromFolder(modelDir)
    if (!tokenizer) throw new ExpertAnalysisError(`${modelDir} has no tokenizer.json`)
    const seqLen = Math.min(o.seqLen ?? Math.min(256, model.dims.maxPositions), model.dims.maxPositions)
    const text = await heldoutText(o.data, tokenizer, {
      seqLen,
      tokens: o.tokens,
      heldOutFraction: o.heldOutFraction,
      seed: o.splitSeed,
    })
    const total = text.sequences.length
    const gates = await collectGates(model, text.sequences, {
      onBatch: (done) => o.onProgress?.(done * seqLen, total * seqLen),
      cancelled: o.cancelled,
    })
    return gates && analyzeGates(text, gates, nExperts, { model: modelDir, source: o.data })
  } finally {
    model.dispose()
  }
}
