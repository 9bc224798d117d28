// Issue 9: NaN and Infinity are errors, never output. A later position can never change an
// earlier one (not even by being NaN), a NaN weight is refused at load naming the tensor, and a
// forward that overflows makes `mxd forward` / `mxd generate` fail naming the hook point where
// it went non-finite, instead of printing null logits (or sampling token 0) with exit code 0.
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { assertFiniteLogits, locateNonFinite, NonFiniteError } from '../../../src/engine/finite.js'
import { generate } from '../../../src/engine/generate.js'
import { ModelLoadError } from '../../../src/engine/model-folder.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import { SafetensorsFile, writeSafetensors, type WritableTensor } from '../../../src/engine/safetensors.js'
import { mxd } from '../../helpers/mxd-cli.js'

const MODELS = join(import.meta.dirname, '../../fixtures/models')
const tmp = mkdtempSync(join(tmpdir(), 'mxd-hardening-nonfinite-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
beforeAll(async () => {
  await initBackend()
})

let copies = 0
/** A copy of `fixture` with its weights rewritten by `edit` (tensor name → float32 values). */
function withWeights(fixture: string, edit: (tensors: Record<string, WritableTensor>) => void): string {
  const dir = join(tmp, `${fixture}-${copies++}`)
  cpSync(join(MODELS, fixture), dir, { recursive: true })
  const path = join(dir, 'model.safetensors')
  const file = SafetensorsFile.open(path)
  const tensors: Record<string, WritableTensor> = {}
  for (const [name, info] of file.tensors) tensors[name] = { dtype: 'F32', shape: info.shape, data: file.readFloat32(name) }
  file.close()
  edit(tensors)
  writeSafetensors(path, tensors)
  return dir
}

/**
 * GPT-2 whose layer-1 MLP output projection is 3e38 everywhere: every weight is finite, layer 0
 * is untouched, and blocks.1.hook_mlp_out is the first activation to overflow float32 (a sum of
 * 128 terms of size ~3e38·|act|).
 */
const overflowing = (): string =>
  withWeights('gpt2-tiny-f32', (t) => {
    t['transformer.h.1.mlp.c_proj.weight']!.data.fill(3e38)
  })

const IDS = [11, 42, 7, 199, 3]

describe('a later position never affects an earlier one, even when it is NaN or Infinity', () => {
  it.each([
    ['gpt2-tiny-f32', NaN],
    ['neox-tiny-f32', NaN],
    ['llama-tiny-f32', NaN],
    ['llama-tiny-f32', Infinity],
    ['neox-tiny-sequential-f32', -Infinity],
  ])('%s, %s in the residual stream at position 1', async (fixture, poison) => {
    const model = await loadLanguageModel(join(MODELS, fixture))
    try {
      const clean = model.forward([IDS]).logits!
      // Position 1 of the stream entering block 0 is replaced by `poison` on every channel.
      const hooks = {
        'blocks.0.hook_resid_pre': (act: tf.Tensor) =>
          tf.tidy(() => {
            const [, time, d] = act.shape as [number, number, number]
            const at1 = tf.tensor3d([Array.from({ length: time }, (_, p) => Array<number>(d).fill(p === 1 ? 1 : 0))])
            return tf.where(tf.cast(at1, 'bool'), tf.fill(act.shape, poison), act)
          }),
      }
      const poisoned = model.forward([IDS], { hooks }).logits!
      const [c, p] = [clean.arraySync()[0]!, poisoned.arraySync()[0]!]
      // Position 0 is exactly what it was: masked keys are selected away, not added to.
      expect(p[0]).toEqual(c[0])
      expect(p[0]!.every(Number.isFinite)).toBe(true)
      // Position 1 and later do see the poisoned position, and are NaN as in the model itself.
      for (let pos = 1; pos < IDS.length; pos++) expect(p[pos]!.every(Number.isNaN)).toBe(true)
      tf.dispose([clean, poisoned])
    } finally {
      model.dispose()
    }
  })

  it('a NaN pad token (left padding) never reaches the real tokens after it', async () => {
    const model = await loadLanguageModel(join(MODELS, 'llama-tiny-f32'))
    try {
      const unpadded = model.forward([IDS]).logits!.arraySync()[0]!
      const hooks = {
        'blocks.0.hook_resid_pre': (act: tf.Tensor) =>
          tf.tidy(() => tf.concat([tf.fill([1, 1, act.shape[2]!], NaN), tf.slice(act, [0, 1, 0], [-1, -1, -1])], 1)),
      }
      const padded = model.forward([[0, ...IDS]], { attentionMask: [[0, ...IDS.map(() => 1)]], hooks }).logits!.arraySync()[0]!
      expect(padded[0]!.every(Number.isNaN)).toBe(true)
      padded.slice(1).forEach((row, p) => row.forEach((v, k) => expect(v).toBeCloseTo(unpadded[p]![k]!, 5)))
    } finally {
      model.dispose()
    }
  })
})

describe('NaN weights are refused at load, naming the tensor and the file', () => {
  it('a NaN in one attention weight', async () => {
    const dir = withWeights('gpt2-tiny-f32', (t) => {
      t['transformer.h.0.attn.c_attn.weight']!.data[5] = NaN
    })
    await expect(loadLanguageModel(dir)).rejects.toThrow(ModelLoadError)
    await expect(loadLanguageModel(dir)).rejects.toThrow(
      new RegExp(`weight "transformer\\.h\\.0\\.attn\\.c_attn\\.weight" in ${join(dir, 'model.safetensors')} holds NaN at element 5`),
    )
  })

  it('an Infinity in a Llama norm', async () => {
    const dir = withWeights('llama-tiny-f32', (t) => {
      t['model.norm.weight']!.data[0] = -Infinity
    })
    await expect(loadLanguageModel(dir)).rejects.toThrow(/weight "model\.norm\.weight" .* holds -Infinity at element 0: .*re-download/)
  })
})

describe('a forward that overflows is an error naming where', () => {
  it('locateNonFinite finds the first hook point to go non-finite; assertFiniteLogits throws with it', async () => {
    const model = await loadLanguageModel(overflowing())
    try {
      expect(locateNonFinite(model, IDS)).toMatchObject({ hookPoint: 'blocks.1.hook_mlp_out', position: 0 })
      const logits = model.forward([IDS]).logits!
      const values = logits.dataSync()
      logits.dispose()
      let error: unknown
      try {
        assertFiniteLogits(model, IDS, values)
      } catch (err) {
        error = err
      }
      expect(error).toBeInstanceOf(NonFiniteError)
      expect((error as NonFiniteError).hookPoint).toBe('blocks.1.hook_mlp_out')
      expect((error as Error).message).toMatch(/went non-finite at blocks\.1\.hook_mlp_out .*position 0 of 5/)
      // Generation stops with the same error instead of sampling from NaN.
      await expect(generate(model, IDS, { maxNewTokens: 3 })).rejects.toThrow(/went non-finite at blocks\.1\.hook_mlp_out/)
    } finally {
      model.dispose()
    }
  })

  it('finite logits pass untouched', async () => {
    const model = await loadLanguageModel(join(MODELS, 'gpt2-tiny-f32'))
    try {
      const logits = model.forward([IDS]).logits!
      expect(() => assertFiniteLogits(model, IDS, logits.dataSync())).not.toThrow()
      logits.dispose()
    } finally {
      model.dispose()
    }
  })

  it('mxd forward and mxd generate exit 1 with the message; a NaN weight fails forward at load', async () => {
    const over = overflowing()
    const nanWeight = withWeights('gpt2-tiny-f32', (t) => {
      t['transformer.wpe.weight']!.data[40] = NaN
    })
    const [fwd, gen, nan] = await Promise.all([
      mxd(['forward', '--model', over, '--ids', IDS.join(','), '--json']),
      // (The fixture has GPT-2's tokenizer but a 300-token vocabulary: "a" is byte token 64.)
      mxd(['generate', '--model', over, '--prompt', 'a', '--max-tokens', '4', '--json']),
      mxd(['forward', '--model', nanWeight, '--ids', '1,2', '--json']),
    ])
    expect(fwd.code, fwd.stderr).toBe(1)
    expect(fwd.stderr).toContain(`The forward pass of ${over} went non-finite at blocks.1.hook_mlp_out`)
    expect(fwd.stdout).not.toMatch(/null/)
    expect(gen.code, gen.stderr).toBe(1)
    expect(gen.stderr).toContain(`The forward pass of ${over} went non-finite at blocks.1.hook_mlp_out`)
    expect(gen.stdout).not.toMatch(/"token"/)
    expect(nan.code, nan.stderr).toBe(1)
    expect(nan.stderr).toMatch(/weight "transformer\.wpe\.weight" in .*model\.safetensors holds NaN at element 40/)
  }, 120_000)
})
