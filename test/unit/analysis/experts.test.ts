// The expert-specialisation analysis on a tiny CPμMoE GPT-2 whose gate is set by hand: expert 0
// takes every punctuation token (weight 1), expert 1 every other non-number token, experts 2 and
// 3 share the numbers (0.5 each). The expected top tokens, contexts, shares and verdicts then
// follow from counting tokens, and the analysis must reproduce them exactly.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeGates, analyzeModelFolder, classifyToken, TOKEN_CLASSES } from '../../../src/analysis/experts.js'
import { kjvSection } from '../../../src/analysis/kjv-themes.js'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import { TextTokenizer } from '../../../src/engine/tokenizer.js'
import { bpeTokenizerJson, gpt2TokenizerConfig, trainBpe } from '../../../src/engine/train/bpe.js'
import { TrainableGpt2 } from '../../../src/engine/train/gpt2.js'
import { saveGpt2Folder } from '../../../src/engine/train/save.js'
import type { ExpertAnalysis } from '../../../src/shared/experts.js'

const EOS = '<|endoftext|>'
// Two "chapters" per document so there is text on both sides of every blank line.
const DOCS = [
  'Genesis 1\nIn the beginning God created the heaven and the earth, 7 days.',
  'Psalms 23\nThe LORD is my shepherd; I shall not want, 12 times.',
  'Matthew 5\nBlessed are the meek: for they shall inherit the earth.',
]
const D = 8
const N = 4

let root: string
let modelDir: string
let dataPath: string
let tokenizer: TextTokenizer

/** The embedding pattern of each kind of token: LayerNorm leaves ±2 on two coordinates. */
function pattern(kind: 'punctuation' | 'number' | 'other'): number[] {
  const e = new Array<number>(D).fill(0)
  const i = kind === 'punctuation' ? 0 : kind === 'other' ? 1 : 2
  e[i] = 1
  e[i + 4] = -1
  return e
}

function kindOf(text: string): 'punctuation' | 'number' | 'other' {
  const c = classifyToken(text, null)
  return c === 'punctuation' ? 'punctuation' : c === 'number' ? 'number' : 'other'
}

beforeAll(async () => {
  await initBackend()
  root = mkdtempSync(join(tmpdir(), 'mxd-experts-'))
  dataPath = join(root, 'text.txt')
  writeFileSync(dataPath, DOCS.join('\n\n') + '\n')
  const bpe = trainBpe(DOCS, { vocabSize: 300, specialTokens: [EOS] })
  const files = { json: bpeTokenizerJson(bpe, [EOS]), config: gpt2TokenizerConfig(EOS, 64) }
  tokenizer = TextTokenizer.fromJson(files.json, files.config)

  const model = new TrainableGpt2(
    {
      vocabSize: tokenizer.vocabSize,
      nPositions: 64,
      nLayer: 1,
      nHead: 1,
      nEmbd: D,
      mlp: { kind: 'cpmoe', nExperts: N, rank: 4 },
      layerNormEps: 1e-5,
    },
    0,
  )
  const set = (name: string, values: number[], shape: number[]): void => {
    const v = model.params[`transformer.${name}`]
    if (!v) throw new Error(`no parameter ${name}`)
    v.assign(tf.tensor(values, shape))
  }
  const wte: number[] = []
  for (let id = 0; id < tokenizer.vocabSize; id++) wte.push(...pattern(kindOf(tokenizer.decode([id]))))
  set('wte.weight', wte, [tokenizer.vocabSize, D])
  set('wpe.weight', new Array<number>(64 * D).fill(0), [64, D])
  // Attention adds nothing, so the MLP sees the token's own (normalised) embedding.
  set('h.0.attn.c_proj.weight', new Array<number>(D * D).fill(0), [D, D])
  // Logits: punctuation [20, 0, 0, 0] → expert 0 alone; other [0, 20, 0, 0] → expert 1 alone;
  // numbers [0, 0, 20, 20] → experts 2 and 3 at 0.5 each (entmax-1.5 after the LayerNorm).
  const G = new Array<number>(D * N).fill(0)
  G[0 * N + 0] = 10
  G[1 * N + 1] = 10
  G[2 * N + 2] = 10
  G[2 * N + 3] = 10
  set('h.0.mlp.gate.G', G, [D, N])
  modelDir = join(root, 'model')
  saveGpt2Folder(modelDir, model, { dtype: 'F32', tokenizer: files, bosId: tokenizer.eosId, eosId: tokenizer.eosId })
  model.dispose()
})

afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('token classes and themes', () => {
  it('classifies tokens from their text and the previous token', () => {
    expect(classifyToken(',', ' the')).toBe('punctuation')
    expect(classifyToken(' ;', null)).toBe('punctuation')
    expect(classifyToken(' 12', ' times')).toBe('number')
    expect(classifyToken('\n', '.')).toBe('whitespace')
    expect(classifyToken(EOS, '.')).toBe('whitespace')
    expect(classifyToken(' unto', ' said')).toBe('function word')
    expect(classifyToken('And', '\n')).toBe('function word')
    expect(classifyToken(' LORD', ' the')).toBe('name')
    expect(classifyToken(' shepherd', ' my')).toBe('content word')
    expect(classifyToken('herd', ' shep')).toBe('word piece')
  })

  it('finds the Bible section of a KJV chapter from its title line', () => {
    expect(kjvSection('2 Kings 3\nNow Jehoram')).toBe(1)
    expect(kjvSection('Song of Solomon 2\nI am the rose')).toBe(2)
    expect(kjvSection('Revelation 21\nAnd I saw')).toBe(5)
    expect(kjvSection('Chapter one\nIt was')).toBeNull()
  })
})

describe('the gate hook', () => {
  it('reports the μMoE gate at blocks.L.mlp.hook_gate, rows summing to 1', async () => {
    const model = await loadLanguageModel(modelDir)
    try {
      expect(model.hookPoints).toContain(hookNames.mlpGate(0))
      const ids = [tokenizer.encode('The earth, 7.', { addSpecialTokens: false })]
      const { cache, logits } = model.forward(ids, { cacheNames: [hookNames.mlpGate(0)] })
      logits?.dispose()
      const gate = cache[hookNames.mlpGate(0)] as tf.Tensor
      expect(gate.shape).toEqual([1, ids[0]!.length, N])
      const rows = (await gate.array()) as number[][][]
      gate.dispose()
      const texts = ids[0]!.map((id) => tokenizer.decode([id]))
      rows[0]!.forEach((row, i) => {
        const kind = kindOf(texts[i]!)
        const want = kind === 'punctuation' ? [1, 0, 0, 0] : kind === 'other' ? [0, 1, 0, 0] : [0, 0, 0.5, 0.5]
        row.forEach((a, e) => expect(a).toBeCloseTo(want[e]!, 5))
      })
    } finally {
      model.dispose()
    }
  })

  it('is absent from a dense model', async () => {
    const model = await loadLanguageModel(join(import.meta.dirname, '..', '..', 'fixtures', 'models', 'gpt2-tiny-f32'))
    try {
      expect(model.hookPoints.some((h) => h.endsWith('hook_gate'))).toBe(false)
    } finally {
      model.dispose()
    }
  })
})

describe('the analysis of a model with known gates', () => {
  let a: ExpertAnalysis
  let ids: number[]
  beforeAll(async () => {
    // All documents held out; 16-token sequences over the whole text.
    a = (await analyzeModelFolder(modelDir, { data: dataPath, tokens: 10_000, heldOutFraction: 0.999_999, seqLen: 16 }))!
    const stream = DOCS.flatMap((d) => [...tokenizer.encode(d, { addSpecialTokens: false }), tokenizer.eosId!])
    ids = stream.slice(0, Math.floor(stream.length / 16) * 16)
  })

  const texts = (): string[] => ids.map((id) => tokenizer.decode([id]))
  const countOf = (pick: (t: string) => boolean): Map<string, number> => {
    const m = new Map<string, number>()
    for (const t of texts()) if (pick(t)) m.set(t, (m.get(t) ?? 0) + 1)
    return m
  }

  it('reads the text it was asked for', () => {
    expect(a.text).toMatchObject({ tokens: ids.length, seqLen: 16, sequences: ids.length / 16 })
    expect(a.nExperts).toBe(N)
    expect(a.themes).toEqual(['Law', 'History', 'Wisdom', 'Prophets', 'Gospels & Acts', 'Epistles & Revelation'])
  })

  it('expert 0 takes exactly the punctuation: top tokens, contexts, class share, specialisation', () => {
    const e0 = a.layers[0]!.experts[0]!
    const punct = countOf((t) => kindOf(t) === 'punctuation')
    const total = [...punct.values()].reduce((s, c) => s + c, 0)
    expect(e0.massShare).toBeCloseTo(total / ids.length, 5)
    expect(new Set(e0.topTokens.map((t) => t.text))).toEqual(new Set(punct.keys()))
    for (const t of e0.topTokens) {
      expect(t.count).toBe(punct.get(t.text))
      expect(t.weight).toBeCloseTo(t.count, 4)
      expect(t.mean).toBeCloseTo(1, 5)
    }
    expect(e0.topClass).toBe('punctuation')
    expect(e0.classBalanced[TOKEN_CLASSES.indexOf('punctuation')]).toBeCloseTo(1, 6)
    expect(e0.classEntropy).toBeCloseTo(0, 6)
    expect(e0.specialisedBy[0]).toMatchObject({ by: 'class', label: 'punctuation' })
    // Ties at weight 1 keep the earliest positions: the first punctuation tokens of the text.
    const firstPunct = texts()
      .map((t, i) => ({ t, i }))
      .filter(({ t }) => kindOf(t) === 'punctuation')
      .slice(0, e0.topContexts.length)
    expect(e0.topContexts.map((c) => c.sequence * 16 + c.position)).toEqual(firstPunct.map(({ i }) => i))
    for (const c of e0.topContexts) {
      expect(kindOf(c.token)).toBe('punctuation')
      expect(c.before.length).toBe(Math.min(8, c.position))
    }
  })

  it('expert 1 spreads evenly over the other classes: not specialised by class, entropy log2(classes)', () => {
    const e1 = a.layers[0]!.experts[1]!
    const present = TOKEN_CLASSES.filter((c, i) => c !== 'punctuation' && c !== 'number' && a.classBase[i]! > 0)
    for (const c of present) expect(e1.classBalanced[TOKEN_CLASSES.indexOf(c)]).toBeCloseTo(1 / present.length, 5)
    expect(e1.classEntropy).toBeCloseTo(Math.log2(present.length), 5)
    expect(e1.specialisedBy.some((s) => s.by === 'class')).toBe(false)
  })

  it('experts 2 and 3 share the numbers at weight 0.5', () => {
    const numbers = countOf((t) => kindOf(t) === 'number')
    for (const e of [2, 3]) {
      const x = a.layers[0]!.experts[e]!
      expect(x.topTokens.map((t) => t.text).sort()).toEqual([...numbers.keys()].sort())
      for (const t of x.topTokens) expect(t.mean).toBeCloseTo(0.5, 5)
      expect(x.specialisedBy[0]).toMatchObject({ by: 'class', label: 'number' })
    }
  })

  it('summarises the layer', () => {
    const s = a.layers[0]!.summary
    expect(s.experts).toBe(N)
    expect(s.active).toBe(4)
    expect(s.byClass).toBeCloseTo(3 / 4, 10)
    expect(s.classCounts).toMatchObject({ punctuation: 1, number: 2 })
    expect(a.summary).toEqual(s)
  })
})

describe('analyzeGates', () => {
  // Eight tokens, two sequences, two themes; expert 0 all of theme 0, expert 1 all of theme 1.
  const words = ['A', ' b', ',', ' c', ' d', ' e', '.', ' f']
  const text = {
    sequences: [Int32Array.from([0, 1, 2, 3]), Int32Array.from([4, 5, 6, 7])],
    tokenText: (id: number) => words[id]!,
    themes: { names: ['one', 'two'], of: [Int16Array.from([0, 0, 0, 0]), Int16Array.from([1, 1, 1, 1])] },
  }
  const gates = new Float32Array([1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1])

  it('attributes theme mass, token shares and contexts within a sequence', () => {
    const a = analyzeGates(text, [gates], 2, { model: 'm', source: 's' })
    const [e0, e1] = a.layers[0]!.experts
    expect(e0!.themeBalanced).toEqual([1, 0])
    expect(e0!.topTheme).toBe('one')
    expect(e1!.specialisedBy.map((s) => s.by)).toContain('theme')
    expect(e0!.topTokens.map((t) => t.share)).toEqual([0.25, 0.25, 0.25, 0.25])
    expect(e1!.topContexts[0]).toMatchObject({ sequence: 1, position: 0, before: [], token: ' d', after: [' e', '.', ' f'] })
    expect(a.themeBase).toEqual([0.5, 0.5])
  })

  it('does not call an expert specialised in a rare class it touches only in passing', () => {
    // Expert 0: weight 1 on the one number ("7"), 0.1 on every other token: balanced share of
    // "number" is high, its raw share small.
    const digits = ['7', ' a', ' b', ' c', ' d', ' e', ' f', ' g']
    const rare = { sequences: [Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7])], tokenText: (id: number) => digits[id]!, themes: null }
    const g = new Float32Array(16)
    for (let t = 0; t < 8; t++) [g[2 * t], g[2 * t + 1]] = t === 0 ? [1, 0] : [0.1, 0.9]
    const e0 = analyzeGates(rare, [g], 2, { model: 'm', source: 's' }).layers[0]!.experts[0]!
    expect(e0.classBalanced[TOKEN_CLASSES.indexOf('number')]).toBeGreaterThan(0.5)
    expect(e0.classMass[TOKEN_CLASSES.indexOf('number')]).toBeCloseTo(1 / 1.7, 5)
    expect(e0.specialisedBy.some((s) => s.by === 'class')).toBe(true)
    g[0] = 0.3
    g[1] = 0.7
    const weak = analyzeGates(rare, [g], 2, { model: 'm', source: 's' }).layers[0]!.experts[0]!
    expect(weak.classBalanced[TOKEN_CLASSES.indexOf('number')]).toBeGreaterThan(0.5)
    expect(weak.classMass[TOKEN_CLASSES.indexOf('number')]).toBeLessThan(0.5)
    expect(weak.specialisedBy.some((s) => s.by === 'class')).toBe(false)
  })

  it('rejects gates of the wrong size', () => {
    expect(() => analyzeGates(text, [new Float32Array(3)], 2, { model: 'm', source: 's' })).toThrow(/gate weights/)
  })
})
