// The image expert analysis on a planted mixer (planted.ts): expert e must be dominated by class
// e with its top images all of class e; the pooled weights must equal a float64 mean over the
// patch tokens of the gate weights the model itself reports (onGate), and the planted formula;
// and the base-rate balancing is checked on a tiny imbalanced set counted by hand.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ImageExpertsAccumulator } from '../../../src/analysis/image-experts/accumulate.js'
import { analyzeImageExperts, imageBatch } from '../../../src/analysis/image-experts/analyze.js'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { disposeParams } from '../../../src/engine/classifiers/classifier.js'
import type { ImageExpertAnalysis } from '../../../src/shared/image-experts.js'
import { CLASSES, CONFIG, K, PER_CLASS, plantedImages, plantedMixer, type PlantedImages } from './planted.js'

let data: PlantedImages
let mixer: ReturnType<typeof plantedMixer>
let analysis: ImageExpertAnalysis

beforeAll(async () => {
  await initBackend()
  data = plantedImages()
  mixer = plantedMixer()
  // Batches of 7: the last one is ragged, and top lists must survive crossing batches.
  analysis = (await analyzeImageExperts(mixer, data, { model: 'planted', datasetId: 1, split: 'test' }, { batch: 7 }))!
})
afterAll(() => disposeParams(mixer.params))

describe('a planted mixer', () => {
  it('shows expert e dominated by class e, its top images all of class e', () => {
    expect(analysis.nBlocks).toBe(CONFIG.depth)
    expect(analysis.patches).toBe(4)
    expect(analysis.classCounts).toEqual(PER_CLASS)
    for (const block of analysis.blocks) {
      expect(block.summary.active).toBe(K)
      expect(block.summary.dominated).toBe(1)
      for (const x of block.experts) {
        expect(x.dominatedBy).toBe(CLASSES[x.expert])
        expect(x.topImages).toHaveLength(16)
        expect(x.topImages.every((t) => data.labels[t.index] === x.expert && t.label === x.expert)).toBe(true)
        // Images with all four patches marked (weight 1) come first, lowest index first among ties.
        const full = [...data.labels.keys()].filter((i) => data.labels[i] === x.expert && data.marked[i] === 4)
        expect(x.topImages.slice(0, full.length).map((t) => t.index)).toEqual(full)
      }
    }
    expect(analysis.summary.dominated).toBe(1)
    expect(analysis.summary.classCounts).toEqual(Object.fromEntries(CLASSES.map((c) => [c, CONFIG.depth])))
  })

  it('pools each image over its patch tokens: a float64 mean of the gate weights onGate reports, and the planted formula', async () => {
    const n = data.labels.length
    const a: Float32Array[] = []
    const images = imageBatch(data, 0, n)
    tf.tidy(() => {
      mixer.model.forward(mixer.params, images, { training: false, onGate: (b, g) => void (a[b] = g.dataSync() as Float32Array) })
    })
    images.dispose()
    const P = 4
    for (const [b, block] of analysis.blocks.entries()) {
      const gates = a[b] as Float32Array
      const pooled = new Float64Array(n * K) // float64: Σ over the P patch tokens / P
      for (let i = 0; i < n; i++) for (let p = 0; p < P; p++) for (let e = 0; e < K; e++) pooled[i * K + e]! += (gates[(i * P + p) * K + e] as number) / P
      for (const x of block.experts) {
        const e = x.expert
        // The planted formula: (m + (4 − m)/4)/4 for the own class, (4 − m)/16 for the others.
        for (let i = 0; i < n; i++) {
          const m = data.marked[i] as number
          expect(pooled[i * K + e]).toBeCloseTo(data.labels[i] === e ? (m + (4 - m) / 4) / 4 : (4 - m) / 16, 5)
        }
        const mass = new Float64Array(K)
        for (let i = 0; i < n; i++) mass[data.labels[i] as number]! += pooled[i * K + e] as number
        const total = mass.reduce((s, v) => s + v, 0)
        expect(x.massShare).toBeCloseTo(total / n, 6)
        x.classMass.forEach((share, c) => expect(share).toBeCloseTo((mass[c] as number) / total, 6))
        const means = Array.from(mass, (m, c) => m / (PER_CLASS[c] as number))
        const meanSum = means.reduce((s, v) => s + v, 0)
        x.classBalanced.forEach((share, c) => expect(share).toBeCloseTo((means[c] as number) / meanSum, 6))
        const ranked = [...Array(n).keys()].sort((i, j) => (pooled[j * K + e] as number) - (pooled[i * K + e] as number) || i - j).slice(0, 16)
        // Weights of equal images agree to rounding; compare the weights, and the indices where they differ clearly.
        x.topImages.forEach((t, r) => expect(t.weight).toBeCloseTo(pooled[(ranked[r] as number) * K + e] as number, 6))
      }
    }
  })

  it('stops when cancelled and honours maxImages', async () => {
    expect(await analyzeImageExperts(mixer, data, { model: 'planted', datasetId: 1, split: 'test' }, { cancelled: () => true })).toBeNull()
    const some = await analyzeImageExperts(mixer, data, { model: 'planted', datasetId: 1, split: 'test' }, { maxImages: 10, batch: 4 })
    expect(some!.data.images).toBe(10)
    const counted = new Array<number>(K).fill(0)
    for (const l of data.labels.subarray(0, 10)) counted[l]!++
    expect(some!.classCounts).toEqual(counted)
  })
})

describe('base-rate balancing, by hand', () => {
  // Ten images, A eight times and B twice; four experts. Pooled weights per image (rows sum to 1):
  //   an A image: e0 0.2, e1 0.8, e2 0,   e3 0
  //   a B image:  e0 0.6, e1 0,   e2 0.4, e3 0
  const labels = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0]
  const row = (l: number): number[] => (l === 0 ? [0.2, 0.8, 0, 0] : [0.6, 0, 0.4, 0])
  const acc = new ImageExpertsAccumulator(1, 4, ['A', 'B'])
  // Two batches: 3 images, then 7.
  for (const [from, to] of [
    [0, 3],
    [3, 10],
  ] as const) {
    acc.add([labels.slice(from, to).flatMap(row)], labels.slice(from, to))
  }
  const result = acc.finish({ model: 'm', mlp: 'cpmoe', patches: 1, data: { datasetId: 1, split: 'test', images: 10 } })
  const [e0, e1, e2, e3] = result.blocks[0]!.experts

  it('e0: raw favours A (1.6 of 2.8), balanced favours B (means 0.2 vs 0.6): not dominated', () => {
    expect(e0!.classMass[0]).toBeCloseTo(1.6 / 2.8, 12)
    expect(e0!.classMass[1]).toBeCloseTo(1.2 / 2.8, 12)
    expect(e0!.classBalanced[0]).toBeCloseTo(0.2 / 0.8, 12)
    expect(e0!.classBalanced[1]).toBeCloseTo(0.6 / 0.8, 12)
    expect(e0!.topClass).toBe('B')
    expect(e0!.dominatedBy).toBeNull()
    expect(e0!.classEntropy).toBeCloseTo(-(0.25 * Math.log2(0.25) + 0.75 * Math.log2(0.75)), 12)
    expect(e0!.massShare).toBeCloseTo(2.8 / 10, 12)
    // Its top images: the two B images (0.6) then the A images (0.2) in index order.
    expect(e0!.topImages.map((t) => t.index)).toEqual([1, 5, 0, 2, 3, 4, 6, 7, 8, 9])
  })

  it('e1 is dominated by A, e2 by B; e3 (no mass) is inactive and left out', () => {
    expect(e1!.dominatedBy).toBe('A')
    expect(e1!.classBalanced).toEqual([1, 0])
    expect(e2!.dominatedBy).toBe('B')
    expect(e2!.activeFraction).toBeCloseTo(2 / 10, 12)
    expect(e3!.active).toBe(false)
    expect(e3!.topImages).toEqual([])
    const s = result.blocks[0]!.summary
    expect(s.active).toBe(3)
    expect(s.dominated).toBeCloseTo(2 / 3, 12)
    expect(s.classCounts).toEqual({ A: 1, B: 1 })
    expect(result.classCounts).toEqual([8, 2])
  })
})
