// pretrain.preview's parameter counts are the trainer's: for dense, CPμMoE and TRμMoE MLPs, the
// count by part sums to TrainableGpt2.paramCount(), and the default rank is the matched one.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../../src/engine/backend.js'
import { paramCounts } from '../../../src/backend/handlers/pretrain.js'
import { matchedCpRank, matchedTrRanks } from '../../../src/engine/layers/mumoe.js'
import { TrainableGpt2 } from '../../../src/engine/train/gpt2.js'
import { mlpConfig } from '../../../src/jobs/pretrain.js'
import type { PretrainConfig } from '../../../src/shared/api.js'

beforeAll(async () => {
  await initBackend()
})

const base = { layers: 2, dModel: 16, heads: 2, ctx: 8, vocabSize: 300 }

describe('pretrain.preview parameter counts', () => {
  for (const c of [
    { ...base, mlp: 'dense' as const },
    { ...base, mlp: 'cpmoe' as const, experts: 4 },
    { ...base, mlp: 'trmoe' as const, experts: 4 },
    { ...base, mlp: 'cpmoe' as const, experts: 4, rank: 3 },
  ]) {
    it(`${c.mlp}${'rank' in c ? ` rank ${c.rank}` : ''} equals the trainer's count`, () => {
      const model = new TrainableGpt2(
        { vocabSize: c.vocabSize, nPositions: c.ctx, nLayer: c.layers, nHead: c.heads, nEmbd: c.dModel, mlp: mlpConfig(c as PretrainConfig), layerNormEps: 1e-5 },
        0,
      )
      try {
        expect(paramCounts(c).total).toBe(model.paramCount())
      } finally {
        model.dispose()
      }
    })
  }

  it('a μMoE MLP with the matched rank stays within the dense budget', () => {
    const dims = { dModel: 16, hidden: 64 }
    const cp = paramCounts({ ...base, mlp: 'cpmoe', experts: 4 })
    const tr = paramCounts({ ...base, mlp: 'trmoe', experts: 4 })
    expect(matchedCpRank(dims, 4)).toBeGreaterThan(0)
    expect(matchedTrRanks(dims, 4).r3).toBeGreaterThan(0)
    expect(cp.mlpPerBlock).toBeLessThanOrEqual(cp.denseMlpPerBlock)
    expect(tr.mlpPerBlock).toBeLessThanOrEqual(tr.denseMlpPerBlock)
  })
})
