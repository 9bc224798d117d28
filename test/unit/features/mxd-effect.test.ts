// An MxD expert's output effect, by hand: a tiny MxD with weights set by this test, indexed on the
// demo model; this test then recomputes, in float64 loops over every indexed token, the gate
// (TopK of ReLU), the hidden z, each expert's materialised map W_n = D·diag(c_n) applied to z
// times a_n, the mean over the tokens where the expert fired, and that mean through ln_f's
// normalisation and scale and the (tied) unembedding; the stored top / bottom tokens and values
// must be those. An expert that never fires has no effect, and says why.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FEATURE_FILES, unitPage } from '../../../src/analysis/features/read.js'
import { Rng } from '../../../src/data/shuffle.js'
import { initBackend } from '../../../src/engine/backend.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { sparseLayerFromTensors } from '../../../src/engine/layers/kinds.js'
import type { LayerTensors } from '../../../src/engine/layers/sparse-layer.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import { SafetensorsFile } from '../../../src/engine/safetensors.js'
import { DEMO, importTestLayer, openFixture, runIndex, type Fixture } from './helpers.js'

const d = 192
const H = 16
const N = 6
const K = 2
const BLOCK = 1
const SEQ = 32
const DEAD = 5
let f: Fixture
let indexRunId: number
let w: LayerTensors

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): the exact GELU of the MxD hidden layer. */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x))
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x)
  return x >= 0 ? y : -y
}
const gelu = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2))

beforeAll(async () => {
  await initBackend()
  f = await openFixture()
  const rng = new Rng(21)
  const uniform = (n: number, a: number): Float32Array => Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * a)
  const C = uniform(N * d, 1)
  for (let n = 0; n < N; n++) {
    const row = C.subarray(n * d, (n + 1) * d)
    const norm = Math.sqrt(row.reduce((a, x) => a + x * x, 0))
    row.forEach((x, i) => (row[i] = x / norm))
  }
  w = {
    E: { shape: [d, H], data: uniform(d * H, 0.1) },
    b_E: { shape: [H], data: uniform(H, 0.2) },
    G: { shape: [d, N], data: uniform(d * N, 0.1) },
    // Expert DEAD's gate is never positive.
    b_G: { shape: [N], data: Float32Array.from({ length: N }, (_, n) => (n === DEAD ? -1000 : 0.1 * n)) },
    C: { shape: [N, d], data: C },
    D: { shape: [H, d], data: uniform(H * d, 0.3) },
    b_out: { shape: [d], data: uniform(d, 0.5) },
  }
  const layer = sparseLayerFromTensors('mxd', { dIn: d, dOut: d, width: N, k: K, hidden: H, glu: false }, w)
  const layerRunId = importTestLayer(f.store, f.dir, layer, BLOCK, 'hand-set-mxd')
  layer.dispose()
  indexRunId = await runIndex(f, layerRunId, { tokens: 512, ctx: SEQ })
}, 120_000)

afterAll(() => f?.store.close())

describe('MxD output effect', () => {
  it("is each expert's mean a_n·W_nᵀz (W_n = D·diag(c_n)) where it fired, through ln_f and the unembedding, as float64 loops give it", async () => {
    const runDir = f.store.runDir(indexRunId)
    const index = f.store.getFeatureIndex(indexRunId)!
    const raw = readFileSync(join(runDir, FEATURE_FILES.dir, FEATURE_FILES.tokens))
    const tokens = Array.from({ length: raw.length / 4 }, (_, i) => raw.readUInt32LE(i * 4))
    expect(tokens.length).toBe(index.tokens)
    // The MLP input at BLOCK (ln2's output) over every indexed sequence, from the unmodified model:
    // the blocks before BLOCK are the model's own, so the layer reads exactly this.
    const model = await loadLanguageModel(DEMO)
    const xs: Float32Array[] = []
    for (let s = 0; s < tokens.length; s += SEQ) {
      const { logits, cache } = model.forward([tokens.slice(s, s + SEQ)], { cacheNames: [hookNames.ln2(BLOCK)] })
      logits?.dispose()
      xs.push((await cache[hookNames.ln2(BLOCK)]!.data()) as Float32Array)
      for (const t of Object.values(cache)) t.dispose()
    }
    model.dispose()
    const W = (name: string): Float32Array => w[name]!.data
    const sum = Array.from({ length: N }, () => new Float64Array(d))
    const count = new Array<number>(N).fill(0)
    for (const block of xs) {
      for (let p = 0; p < SEQ; p++) {
        const x = block.subarray(p * d, (p + 1) * d)
        const gate = Array.from({ length: N }, (_, n) => {
          let g = W('b_G')[n]!
          for (let i = 0; i < d; i++) g += x[i]! * W('G')[i * N + n]!
          return { n, a: Math.max(0, g) }
        })
        const chosen = gate.sort((a, b) => b.a - a.a).slice(0, K).filter((g) => g.a > 0)
        const z = Array.from({ length: H }, (_, h) => {
          let pre = W('b_E')[h]!
          for (let i = 0; i < d; i++) pre += x[i]! * W('E')[i * H + h]!
          return gelu(pre)
        })
        for (const { n, a } of chosen) {
          count[n]!++
          // a_n · W_nᵀ z with W_n[h][o] = D[h][o] · c_n[o], materialised entry by entry.
          for (let o = 0; o < d; o++) {
            let v = 0
            for (let h = 0; h < H; h++) v += z[h]! * (W('D')[h * d + o]! * W('C')[n * d + o]!)
            sum[n]![o]! += a * v
          }
        }
      }
    }
    const file = SafetensorsFile.open(join(DEMO, 'model.safetensors'))
    const gamma = file.readFloat32('transformer.ln_f.weight')
    const wte = file.readFloat32('transformer.wte.weight')
    file.close()
    const vocab = wte.length / d
    expect(count[DEAD]).toBe(0)
    for (let n = 0; n < N; n++) {
      const row = f.store.getFeatureUnit(indexRunId, n)!
      expect(row.count, `expert ${n}`).toBe(count[n])
      const page = unitPage(runDir, index, row)
      if (n === DEAD) {
        expect(page.effect.top).toEqual([])
        expect(page.effect.description).toMatch(/^Not computed.*never fired/)
        continue
      }
      const mean = Array.from(sum[n]!, (v) => v / count[n]!)
      const mu = mean.reduce((a, b) => a + b, 0) / d
      const variance = mean.reduce((a, b) => a + (b - mu) ** 2, 0) / d
      const h = mean.map((v, i) => ((v - mu) / Math.sqrt(variance + 1e-5)) * gamma[i]!)
      const logits = Array.from({ length: vocab }, (_, t) => h.reduce((a, v, i) => a + v * wte[t * d + i]!, 0))
      const ranked = logits.map((value, id) => ({ id, value })).sort((a, b) => b.value - a.value)
      expect(page.effect.description).toContain('mean contribution')
      expect(page.effect.top.map((t) => t.id), `expert ${n}`).toEqual(ranked.slice(0, 10).map((t) => t.id))
      expect(page.effect.bottom.map((t) => t.id), `expert ${n}`).toEqual(ranked.slice(-10).reverse().map((t) => t.id))
      page.effect.top.forEach((t, i) => expect(t.value).toBeCloseTo(ranked[i]!.value, 3))
      page.effect.bottom.forEach((t, i) => expect(t.value).toBeCloseTo(ranked[vocab - 1 - i]!.value, 3))
    }
  }, 120_000)
})
