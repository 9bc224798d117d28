// The trainable GPT-2 against two references: the model engine (same weights, same logits) and
// PyTorch (scripts/fixtures/make_train_fixtures.py: gradients and one AdamW step).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import { SafetensorsFile } from '../../../src/engine/safetensors.js'
import { TrainableGpt2, type Gpt2Config } from '../../../src/engine/train/gpt2.js'
import { loadTrainableGpt2, saveGpt2Folder } from '../../../src/engine/train/save.js'
import { Pretrainer, type TrainSettings } from '../../../src/engine/train/trainer.js'

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures')

/** max|a − b| / max(max|b|, 1e-6) */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0
  let scale = 1e-6
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!))
    scale = Math.max(scale, Math.abs(expected[i]!))
  }
  return diff / scale
}

interface TorchReference {
  config: Gpt2Config
  ids: Int32Array
  targets: Int32Array
  batch: number
  time: number
  loss: number
  logits: Float32Array
  read(prefix: string): Record<string, { shape: number[]; data: Float32Array }>
  clip: number
  lr: number
}

function readTorchReference(): TorchReference {
  const file = SafetensorsFile.open(join(FIXTURES, 'train', 'gpt2-train-tiny.safetensors'))
  const c = JSON.parse(file.metadata.config!) as Record<string, number>
  const [batch, time] = file.info('ids').shape as [number, number]
  const read = (prefix: string): Record<string, { shape: number[]; data: Float32Array }> => {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {}
    for (const [name, info] of file.tensors) if (name.startsWith(prefix)) out[name.slice(prefix.length)] = { shape: [...info.shape], data: file.readFloat32(name) }
    return out
  }
  return {
    config: {
      vocabSize: c.vocab_size!,
      nPositions: c.n_positions!,
      nLayer: c.n_layer!,
      nHead: c.n_head!,
      nEmbd: c.n_embd!,
      layerNormEps: c.layer_norm_epsilon!,
      mlp: { kind: 'dense' },
    },
    ids: file.readInt32('ids'),
    targets: file.readInt32('targets'),
    batch,
    time,
    loss: file.readFloat32('loss')[0]!,
    logits: file.readFloat32('logits'),
    read,
    clip: Number(file.metadata.clip),
    lr: Number(file.metadata.lr),
  }
}

let ref: TorchReference
const dirs: string[] = []

beforeAll(async () => {
  await initBackend()
  ref = readTorchReference()
})

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('trainable GPT-2', () => {
  it('computes the logits, loss and gradients PyTorch computes', () => {
    const model = new TrainableGpt2(ref.config, 0)
    model.load(ref.read('param.'))
    const logits = tf.tidy(() => model.logits(ref.ids, ref.batch, ref.time))
    expect(relativeError(logits.dataSync(), ref.logits)).toBeLessThan(1e-5)
    logits.dispose()

    const names = new Map(Object.entries(model.params).map(([name, v]) => [v.name, name]))
    const { value, grads } = tf.variableGrads(() => model.loss(ref.ids, ref.targets, ref.batch, ref.time), Object.values(model.params))
    expect(value.dataSync()[0]).toBeCloseTo(ref.loss, 5)
    const expected = ref.read('grad.')
    expect(Object.keys(grads)).toHaveLength(Object.keys(expected).length)
    for (const [varName, g] of Object.entries(grads)) {
      const name = names.get(varName)!
      expect(relativeError(g.dataSync(), expected[name]!.data), name).toBeLessThan(1e-4)
    }
    tf.dispose([value, ...Object.values(grads)])
    model.dispose()
  })

  it('takes the AdamW step torch.optim.AdamW takes (clipping, decay on matrices only)', () => {
    const model = new TrainableGpt2(ref.config, 0)
    model.load(ref.read('param.'))
    // The batch as the trainer draws it: sequences of time + 1 tokens (ids then the last target).
    const seqs = [0, 1].map((b) => {
      const s = new Int32Array(ref.time + 1)
      s.set(ref.ids.subarray(b * ref.time, (b + 1) * ref.time))
      s[ref.time] = ref.targets[(b + 1) * ref.time - 1]!
      return s
    })
    const settings: TrainSettings = {
      batch: 2,
      lr: ref.lr,
      minLrRatio: 0.1,
      warmupSteps: 0,
      totalSteps: 10,
      weightDecay: 0.1,
      betas: [0.9, 0.95],
      gradClip: ref.clip,
      seed: 3,
    }
    const trainer = new Pretrainer(model, seqs, [], settings)
    const r = trainer.trainStep()
    expect(r.loss).toBeCloseTo(ref.loss, 5)
    const after = ref.read('step.')
    const before = ref.read('param.')
    const grads = ref.read('grad.')
    for (const [name, v] of Object.entries(model.params)) {
      // Compare the update (after − before), which is ~lr-sized, not the weights themselves.
      // Adam's first step is ≈ lr·g/|g|, so where the true gradient is 0 up to rounding (the key
      // bias: softmax ignores a constant added to every score) either side's update is noise;
      // those entries are only checked to be no larger than lr·(1 + decay).
      const got = v.dataSync()
      const g = grads[name]!.data
      const gScale = g.reduce((m, x) => Math.max(m, Math.abs(x)), 0)
      const meaningful = (i: number): boolean => Math.abs(g[i]!) > 1e-4 * gScale
      const delta = Array.from(got, (x, i) => (meaningful(i) ? x - before[name]!.data[i]! : 0))
      const wantDelta = Array.from(after[name]!.data, (x, i) => (meaningful(i) ? x - before[name]!.data[i]! : 0))
      expect(relativeError(delta, wantDelta), name).toBeLessThan(2e-3)
      for (let i = 0; i < got.length; i++) if (!meaningful(i)) expect(Math.abs(got[i]! - before[name]!.data[i]!)).toBeLessThan(ref.lr * 1.5)
    }
    trainer.dispose()
    model.dispose()
  })

  it('equals the engine forward on the engine fixture gpt2-tiny-f32', async () => {
    const dir = join(FIXTURES, 'models', 'gpt2-tiny-f32')
    const model = loadTrainableGpt2(dir)
    const engine = await loadLanguageModel(dir)
    const ids = [
      [5, 17, 250, 3, 99, 42, 7, 1],
      [8, 8, 9, 100, 200, 299, 0, 12],
    ]
    const { logits } = engine.forward(ids)
    const ours = tf.tidy(() => model.logits(Int32Array.from(ids.flat()), 2, 8))
    expect(relativeError(ours.dataSync(), logits!.dataSync())).toBeLessThan(1e-5)
    tf.dispose([ours, logits!])
    engine.dispose()
    model.dispose()
  })

  for (const mlp of [{ kind: 'dense' }, { kind: 'cpmoe', nExperts: 4, rank: 24 }, { kind: 'trmoe', nExperts: 4, ranks: { r1: 2, r2: 2, r3: 8 } }] as const) {
    it(`saves a ${mlp.kind} model that the engine loads with the trainer's logits`, async () => {
      const config: Gpt2Config = { vocabSize: 50, nPositions: 16, nLayer: 2, nHead: 2, nEmbd: 16, layerNormEps: 1e-5, mlp }
      const model = new TrainableGpt2(config, 7)
      // A few steps so the μMoE gate is no longer zero (its zero init would hide a wrong gate).
      const seqs = Array.from({ length: 8 }, (_, i) => Int32Array.from({ length: 17 }, (_, t) => (i * 13 + t * 7) % 50))
      const trainer = new Pretrainer(model, seqs, [], { batch: 4, lr: 1e-2, minLrRatio: 0.1, warmupSteps: 0, totalSteps: 3, weightDecay: 0.1, betas: [0.9, 0.95], gradClip: 1, seed: 1 })
      for (let i = 0; i < 3; i++) trainer.trainStep()
      const dir = mkdtempSync(join(tmpdir(), 'mxd-train-save-'))
      dirs.push(dir)
      saveGpt2Folder(dir, model, { dtype: 'F32', tokenizer: null, bosId: 0, eosId: 0 })
      const engine = await loadLanguageModel(dir)
      const ids = [Array.from({ length: 16 }, (_, t) => (t * 5 + 3) % 50)]
      const { logits } = engine.forward(ids)
      const ours = tf.tidy(() => model.logits(Int32Array.from(ids[0]!), 1, 16))
      expect(relativeError(ours.dataSync(), logits!.dataSync())).toBeLessThan(1e-4)
      tf.dispose([ours, logits!])
      engine.dispose()
      trainer.dispose()
      model.dispose()
    })
  }
})
