// The engine's CLI commands as a user runs them, checked against the PyTorch reference outputs
// committed with the fixtures (scripts/fixtures/make_model_fixtures.py).
import { join } from 'node:path'
import { getEncoding } from 'js-tiktoken'
import { describe, expect, it } from 'vitest'
import { SafetensorsFile } from '../../src/engine/safetensors.js'
import { tinyModelWithByteTokenizer } from '../helpers/byte-tokenizer.js'
import { mxd } from '../helpers/mxd-cli.js'
import { repoRoot } from '../helpers/web-process.js'

const fixtures = join(repoRoot, 'test/fixtures/models')

/** Row `b` of a [batch, pos, width] reference tensor as positions × width. */
function referenceRows(file: SafetensorsFile, name: string, b: number): number[][] {
  const info = file.tensors.get(name)!
  const [, pos, width] = info.shape as [number, number, number]
  const data = file.readFloat32(name)
  return Array.from({ length: pos }, (_, p) => Array.from(data.subarray((b * pos + p) * width, (b * pos + p + 1) * width)))
}

function maxRelError(a: number[][], b: number[][]): number {
  let diff = 0
  let scale = 1e-6
  for (let i = 0; i < b.length; i++)
    for (let j = 0; j < b[i]!.length; j++) {
      diff = Math.max(diff, Math.abs(a[i]![j]! - b[i]![j]!))
      scale = Math.max(scale, Math.abs(b[i]![j]!))
    }
  return diff / scale
}

describe('mxd engine commands', () => {
  for (const name of ['gpt2-tiny-f32', 'neox-tiny-f16', 'llama-tiny-bf16']) {
    it(`forward --ids --hooks --json matches the reference for ${name}`, async () => {
      const dir = join(fixtures, name)
      const ref = SafetensorsFile.open(join(dir, 'reference.safetensors'))
      try {
        // The reference's first row is unpadded (its mask is all ones).
        const mask = ref.readInt32('attention_mask')
        const ids = Array.from(ref.readInt32('input_ids').subarray(0, ref.tensors.get('input_ids')!.shape[1]))
        expect([...mask.subarray(0, ids.length)].every((m) => m === 1)).toBe(true)
        const hook = 'blocks.1.hook_mlp_out'
        const r = await mxd(['forward', '--model', dir, '--ids', ids.join(','), '--hooks', hook, '--json'])
        expect(r.code, r.stderr).toBe(0)
        const out = JSON.parse(r.stdout) as { logits: number[][]; hooks: Record<string, number[][]> }
        expect(out.logits).toHaveLength(ids.length)
        expect(maxRelError(out.logits, referenceRows(ref, 'logits', 0))).toBeLessThan(1e-4)
        expect(maxRelError(out.hooks[hook]!, referenceRows(ref, `hook:${hook}`, 0))).toBeLessThan(1e-4)
      } finally {
        ref.close()
      }
    })
  }

  it('inspect --json describes the model and its layers', async () => {
    const r = await mxd(['inspect', '--model', join(fixtures, 'llama-tiny-f32'), '--json'])
    expect(r.code, r.stderr).toBe(0)
    const d = JSON.parse(r.stdout) as { info: Record<string, unknown>; layers: { hookIn: string; hookOut: string; mlpParameters: number }[] }
    expect(d.info).toMatchObject({ architecture: 'llama', dtype: 'F32' })
    expect(d.layers).toHaveLength(d.info.layers as number)
    expect(d.layers[0]).toMatchObject({ hookIn: 'blocks.0.ln2.hook_normalized', hookOut: 'blocks.0.hook_mlp_out' })
    // SwiGLU: gate, up and down projections, no biases.
    const dm = d.info.dModel as number
    const h = d.info.mlpWidth as number
    expect(d.layers[0]!.mlpParameters).toBe(3 * dm * h)
  })

  it('tokenize --json needs only the tokenizer files', async () => {
    const text = "Hello world, don't panic"
    const r = await mxd(['tokenize', '--model', join(repoRoot, 'test/fixtures/tokenizers/gpt2'), '--text', text, '--json'])
    expect(r.code, r.stderr).toBe(0)
    // js-tiktoken's GPT-2 encoder is the independent reference.
    expect(JSON.parse(r.stdout)).toEqual({
      ids: getEncoding('gpt2').encode(text),
      tokens: ['Hello', 'Ġworld', ',', 'Ġdon', "'t", 'Ġpanic'],
    })
  })

  it('bad input: a clear message and a non-zero exit, no crash', async () => {
    const unknownHook = await mxd(['forward', '--model', join(fixtures, 'gpt2-tiny-f32'), '--ids', '1,2', '--hooks', 'blocks.9.nope'])
    expect(unknownHook.code).toBe(2)
    expect(unknownHook.stderr).toMatch(/unknown hook point blocks\.9\.nope/)
    const both = await mxd(['forward', '--model', join(fixtures, 'gpt2-tiny-f32')])
    expect(both.stderr).toMatch(/exactly one of --ids or --text/)
    const missing = await mxd(['inspect', '--model', join(fixtures, 'does-not-exist')])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/no such folder/)
    const notModel = await mxd(['inspect', '--model', join(repoRoot, 'test/fixtures/tokenizers/gpt2')])
    expect(notModel.code).toBe(1)
    expect(notModel.stderr).toMatch(/config\.json/)
  })
})

describe('mxd generate', () => {
  it('streams tokens, and greedy decoding equals re-running the full sequence each step', async () => {
    const dir = tinyModelWithByteTokenizer()
    const r = await mxd(['generate', '--model', dir, '--prompt', 'Hi', '--max-tokens', '6', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    const final = lines.at(-1) as { promptIds: number[]; ids: number[]; stopReason: string }
    const streamed = lines.slice(0, -1).map((l) => (l.token as { id: number }).id)
    expect(streamed).toEqual(final.ids)
    expect(final.promptIds).toEqual([72, 105]) // "H", "i" as bytes
    // Independent path: full forward passes (no KV cache) through `mxd forward`, argmax each step.
    const seq = [...final.promptIds]
    for (const id of final.ids) {
      const f = await mxd(['forward', '--model', dir, '--ids', seq.join(','), '--json'])
      const last = (JSON.parse(f.stdout) as { logits: number[][] }).logits.at(-1)!
      expect(last.indexOf(Math.max(...last))).toBe(id)
      seq.push(id)
    }
    // Sampling: the same seed gives the same text.
    const s1 = await mxd(['generate', '--model', dir, '--prompt', 'Hi', '--max-tokens', '8', '--temperature', '1.5', '--seed', '7', '--json'])
    const s2 = await mxd(['generate', '--model', dir, '--prompt', 'Hi', '--max-tokens', '8', '--temperature', '1.5', '--seed', '7', '--json'])
    expect(s1.stdout.trim().split('\n').at(-1)).toBe(s2.stdout.trim().split('\n').at(-1))
    const plain = await mxd(['generate', '--model', dir, '--prompt', 'Hi', '--max-tokens', '3'])
    expect(plain.stdout.startsWith('Hi')).toBe(true)
  })
})
