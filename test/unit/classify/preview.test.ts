// classify.preview on a real store with a planted 8×8 gray image set (4 classes): the model's size
// before training, and for a μMoE mixer the parameter-matched rank. Checked against the engine's
// matchedMixerRank (the number the form must show), against a hand count of the dense mixer's
// parameters, and against the definition of "matched": at the matched rank the μMoE mixer is no
// larger than the dense one, one rank more and it is larger. Bad configs are refused naming the field.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { matchedMixerRank, mixerSchema } from '../../../src/engine/classifiers/mixer.js'
import { CLASSES, SIDE, writePlantedIdx } from './planted.js'

const root = mkdtempSync(join(tmpdir(), 'mxd-classify-preview-'))
let b: Backend
let datasetId: number
const shape = { height: SIDE, width: SIDE, channels: 1 as const, classes: CLASSES }

beforeAll(async () => {
  b = await Backend.create({ storeDir: join(root, 'store') })
  datasetId = (await b.call('images.add', { path: writePlantedIdx(join(root, 'planted'), { train: 4, test: 2 }) })).id
})
afterAll(async () => {
  await b.close()
  rmSync(root, { recursive: true, force: true })
})

/** The dense MLP-Mixer's parameters counted by hand (docs/classifiers.md's layer list). */
function denseMixerByHand(c: { patch: number; hidden: number; tokenMixing: number; channelMixing: number; depth: number }): number {
  const P = (SIDE / c.patch) ** 2
  const C = c.hidden
  const lin = (i: number, o: number): number => i * o + o
  const block = 4 * C + lin(P, c.tokenMixing) + lin(c.tokenMixing, P) + lin(C, c.channelMixing) + lin(c.channelMixing, C)
  return lin(c.patch * c.patch, C) + c.depth * block + 2 * C + lin(C, CLASSES)
}

describe('classify.preview', () => {
  it('gives a CPμMoE mixer the engine’s matched rank, both models’ sizes, and matched means no larger than dense', async () => {
    const modelConfig = { mlp: 'cpmoe', experts: 4, hidden: 16, depth: 1, patch: 2 }
    const p = await b.call('classify.preview', { data: datasetId, model: 'mixer', modelConfig })
    const engine = matchedMixerRank(mixerSchema.parse(modelConfig), shape)
    expect(p.matchedRank).toBe(engine.rank)
    expect(p.denseParameters).toBe(engine.denseParams)
    expect(p.matchedParameters).toBe(engine.mumoeParams)
    expect(p.parameters).toBe(engine.mumoeParams) // no rank set: trained at the matched one
    expect(p.denseParameters).toBe(denseMixerByHand({ patch: 2, hidden: 16, tokenMixing: 64, channelMixing: 512, depth: 1 }))
    const R = p.matchedRank as number
    expect(R).toBeGreaterThan(0)
    expect(p.parameters).toBeLessThanOrEqual(p.denseParameters!)
    const above = await b.call('classify.preview', { data: datasetId, model: 'mixer', modelConfig: { ...modelConfig, rank: R + 1 } })
    expect(above.parameters).toBeGreaterThan(p.denseParameters!)
    expect(above.matchedRank).toBe(R) // the matched rank does not follow the rank typed
  })

  it('gives a TRμMoE mixer its matched ranks (r3, with r1 = r2 the ring rank) as the engine does', async () => {
    const modelConfig = { mlp: 'trmoe', experts: 8, hidden: 24, depth: 2, ringRank: 3 }
    const p = await b.call('classify.preview', { data: datasetId, model: 'mixer', modelConfig })
    const engine = matchedMixerRank(mixerSchema.parse(modelConfig), shape)
    expect(p.matchedRank).toEqual(engine.rank)
    expect(p.matchedRank).toMatchObject({ r1: 3, r2: 3 })
    expect([p.denseParameters, p.parameters]).toEqual([engine.denseParams, engine.mumoeParams])
    expect(p.denseParameters).toBe(denseMixerByHand({ patch: 4, hidden: 24, tokenMixing: 64, channelMixing: 512, depth: 2 }))
    const r3 = (p.matchedRank as { r3: number }).r3
    const above = await b.call('classify.preview', { data: datasetId, model: 'mixer', modelConfig: { ...modelConfig, rank: r3 + 1 } })
    expect(p.parameters).toBeLessThanOrEqual(p.denseParameters!)
    expect(above.parameters).toBeGreaterThan(p.denseParameters!)
  })

  it('counts an MLP and a dense mixer with no rank to match', async () => {
    const mlp = await b.call('classify.preview', { data: datasetId, model: 'mlp', modelConfig: { hidden: 10 } })
    expect(mlp).toEqual({ parameters: SIDE * SIDE * 10 + 10 + 10 * CLASSES + CLASSES, matchedRank: null, denseParameters: null, matchedParameters: null })
    const dense = await b.call('classify.preview', { data: datasetId, model: 'mixer', modelConfig: { mlp: 'dense', hidden: 8, depth: 1 } })
    expect(dense.parameters).toBe(denseMixerByHand({ patch: 4, hidden: 8, tokenMixing: 64, channelMixing: 512, depth: 1 }))
    expect(dense.matchedRank).toBeNull()
  })

  it('refuses bad configs naming the field, and data that is not an image dataset', async () => {
    const mixer = (modelConfig: Record<string, string | number>) => b.call('classify.preview', { data: datasetId, model: 'mixer', modelConfig })
    await expect(mixer({ mlp: 'cpmoe', experts: 1 })).rejects.toThrow(/invalid mixer config: experts/)
    await expect(mixer({ mlp: 'cpmoe', rank: 0 })).rejects.toThrow(/invalid mixer config: rank/)
    await expect(mixer({ patch: 3 })).rejects.toThrow(/patch size 3 does not divide the 8×8 images/)
    await expect(mixer({ mlp: 'cpmoe', experts: 4096, hidden: 4, channelMixing: 4 })).rejects.toThrow(/experts leave no CP rank/)
    await expect(mixer({ widths: 3 })).rejects.toThrow(/invalid mixer config.*widths/)
    await expect(b.call('classify.preview', { data: datasetId, model: 'mlp', modelConfig: { hidden: -1 } })).rejects.toThrow(/invalid mlp config: hidden/)
    await expect(b.call('classify.preview', { data: datasetId, model: 'cnn' as 'mlp' })).rejects.toThrow(/model/)
    await expect(b.call('classify.preview', { data: 999, model: 'mlp' })).rejects.toThrow(/no image dataset #999/)
    const text = join(root, 'notes.txt')
    writeFileSync(text, 'one document\n\nanother\n')
    const textId = (await b.call('datasets.add', { path: text })).id
    await expect(b.call('classify.preview', { data: textId, model: 'mlp' })).rejects.toThrow(/is a text dataset, not an image dataset/)
  })
})
