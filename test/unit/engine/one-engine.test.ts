// One engine: the GPT-2 the trainer trains is the GPT-2 the engine runs (models/gpt2.ts on the ops
// of src/engine/ops.ts). After real training steps, a model saved in float32 and loaded by the
// engine gives the trainer's logits bit for bit — not merely within a tolerance — through the
// plain forward, a forward that caches hook points, and a forward spliced in at a later layer.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import { TrainableGpt2, type Gpt2Config, type MlpConfig } from '../../../src/engine/train/gpt2.js'
import { saveGpt2Folder } from '../../../src/engine/train/save.js'
import { Pretrainer } from '../../../src/engine/train/trainer.js'

const VOCAB = 61
const TIME = 12
const dirs: string[] = []

beforeAll(async () => {
  await initBackend()
})

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** Bitwise equality of two float32 arrays (NaN-safe, and −0 ≠ +0), with the first mismatch. */
function firstDifference(a: Float32Array, b: Float32Array): number | null {
  if (a.length !== b.length) return -1
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length)
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length)
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i
  return null
}

const MLPS: MlpConfig[] = [
  { kind: 'dense' },
  { kind: 'cpmoe', nExperts: 4, rank: 20 },
  { kind: 'trmoe', nExperts: 4, ranks: { r1: 2, r2: 2, r3: 6 } },
]

describe('one engine: trainer and engine run the same GPT-2', () => {
  for (const mlp of MLPS) {
    it(`a ${mlp.kind} GPT-2 trained two steps, saved and loaded, gives the trainer's logits bit for bit`, async () => {
      const config: Gpt2Config = { vocabSize: VOCAB, nPositions: 16, nLayer: 2, nHead: 2, nEmbd: 16, layerNormEps: 1e-5, mlp }
      const model = new TrainableGpt2(config, 5)
      const seqs = Array.from({ length: 8 }, (_, i) => Int32Array.from({ length: TIME + 1 }, (_, t) => (i * 17 + t * 11 + 3) % VOCAB))
      const trainer = new Pretrainer(model, seqs, [], {
        batch: 4,
        lr: 1e-2,
        minLrRatio: 0.1,
        warmupSteps: 0,
        totalSteps: 2,
        weightDecay: 0.1,
        betas: [0.9, 0.95],
        gradClip: 1,
        seed: 2,
      })
      // Two real optimizer steps: every parameter (the μMoE gate G starts at zero) has moved.
      trainer.trainStep()
      trainer.trainStep()
      const dir = mkdtempSync(join(tmpdir(), 'mxd-one-engine-'))
      dirs.push(dir)
      saveGpt2Folder(dir, model, { dtype: 'F32', tokenizer: null, bosId: 0, eosId: 0 })
      const engine = await loadLanguageModel(dir)

      const ids = [0, 1].map((b) => Array.from({ length: TIME }, (_, t) => (b * 29 + t * 7 + 1) % VOCAB))
      const trained = tf.tidy(() => model.logits(Int32Array.from(ids.flat()), 2, TIME))
      const ours = trained.dataSync() as Float32Array

      // 1. The plain forward.
      const plain = engine.forward(ids)
      expect(plain.logits!.shape).toEqual([2, TIME, VOCAB])
      expect(firstDifference(plain.logits!.dataSync() as Float32Array, ours)).toBeNull()

      // 2. With hook points read on the way (what analysis and the app do).
      const wanted = [hookNames.residPre(1), hookNames.mlpPost(0), ...(mlp.kind === 'dense' ? [] : [hookNames.mlpGate(1)])]
      const hooked = engine.forward(ids, { cacheNames: wanted, hooks: { [hookNames.ln2(0)]: () => undefined } })
      expect(firstDifference(hooked.logits!.dataSync() as Float32Array, ours)).toBeNull()

      // 3. Spliced in at block 1 from the cached residual (TransformerLens start_at_layer).
      const spliced = engine.forward(ids, { startAtLayer: { layer: 1, residual: hooked.cache[hookNames.residPre(1)]! } })
      expect(firstDifference(spliced.logits!.dataSync() as Float32Array, ours)).toBeNull()

      // The comparison is sharp: a few ulps (2⁻²⁰ relative) on one gain of the trainer's copy, a
      // difference far below any tolerance a golden test uses, already changes its logits.
      const gain = model.params['transformer.ln_f.weight']!
      const nudged = gain.dataSync().slice() as Float32Array
      nudged[0] = nudged[0]! * (1 + 2 ** -20)
      tf.tidy(() => gain.assign(tf.tensor1d(nudged)))
      const after = tf.tidy(() => model.logits(Int32Array.from(ids.flat()), 2, TIME))
      expect(firstDifference(after.dataSync() as Float32Array, ours)).not.toBeNull()

      tf.dispose([trained, after, plain.logits!, hooked.logits!, spliced.logits!, ...Object.values(hooked.cache)])
      engine.dispose()
      trainer.dispose()
      model.dispose()
    })
  }
})
