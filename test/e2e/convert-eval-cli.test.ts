// The evaluation half of the conversion as a user runs it, in real processes: `mxd forward
// --splice` shows the sparse layer's output at hook_mlp_out and its K-sparse gate; `mxd eval`
// stores held-out metrics on the training run; `mxd export` then `mxd import` gives a run whose
// splice is bit-identical; a bad folder is refused and registers nothing.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadLayerFolder } from '../../src/convert/layer-file.js'
import { initBackend, tf } from '../../src/engine/backend.js'
import type { RunKind } from '../../src/shared/api.js'
import { Store } from '../../src/store/store.js'
import { tinyModelWithByteTokenizer } from '../helpers/byte-tokenizer.js'
import { mxd } from '../helpers/mxd-cli.js'
import { writeMxdLayerFolder } from '../helpers/mxd-layer-folder.js'

const K = 4
const HOOKS = ['blocks.1.ln2.hook_normalized', 'blocks.1.hook_mlp_out', 'blocks.1.mxd.hook_gate']

let modelDir: string
let storeDir: string
let runId: number
let layerDir: string

beforeAll(async () => {
  await initBackend()
  modelDir = tinyModelWithByteTokenizer()
  const work = mkdtempSync(join(tmpdir(), 'mxd-e2e-eval-'))
  const words = ['sparse', 'layer', 'of', 'experts', 'the', 'gate', 'decoder', 'token', 'mixture', 'model']
  let seed = 1
  const next = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31)
  const docs = Array.from({ length: 500 }, (_, i) => Array.from({ length: 10 + (i % 7) }, () => words[Math.floor(next() * words.length)]).join(' '))
  const dataFile = join(work, 'corpus.txt')
  writeFileSync(dataFile, docs.join('\n\n') + '\n')
  storeDir = join(work, 'store')

  // A finished conversion run, as the training job leaves it: an MxD in runDir/layer.
  const store = new Store({ dir: storeDir })
  const config = { model: modelDir, layer: 1, data: dataFile, kind: 'mxd', k: K, ctx: 32, evaluate: true, evalTokens: 256 }
  const run = store.createRun('convert' as RunKind, config, 'succeeded')
  runId = run.id
  layerDir = join(store.runDir(run.id), 'layer')
  writeMxdLayerFolder(layerDir, { modelDir, block: 1, dModel: 32, hidden: 128, experts: 24, k: K, training: { ...config, model: modelDir, steps: 12 } })
  store.close()
})

type Rows = number[][]

async function spliced(spec: string): Promise<Record<string, Rows>> {
  const r = await mxd(['forward', '--model', modelDir, '--ids', '72,101,108,108,111,32,103,97,116,101', '--splice', spec, '--hooks', HOOKS.join(','), '--store', storeDir, '--json'])
  expect(r.code, r.stderr).toBe(0)
  return (JSON.parse(r.stdout) as { hooks: Record<string, Rows> }).hooks
}

describe('mxd forward --splice / eval / export / import', () => {
  it('forward --splice RUN: hook_mlp_out is the layer’s output on ln2’s output, hook_gate has ≤ K non-zeros', async () => {
    const hooks = await spliced(String(runId))
    const x = hooks[HOOKS[0]!]!
    const { layer } = loadLayerFolder(layerDir)
    const out = layer.forward(tf.tensor2d(x))
    const want = out.y.arraySync()
    const codes = out.codes.arraySync()
    tf.dispose([out.y, out.codes])
    layer.dispose()
    const got = hooks[HOOKS[1]!]!
    let worst = 0
    for (let p = 0; p < want.length; p++) for (let o = 0; o < 32; o++) worst = Math.max(worst, Math.abs(got[p]![o]! - want[p]![o]!))
    expect(worst).toBeLessThan(1e-5)
    const gate = hooks[HOOKS[2]!]!
    expect(gate.length).toBe(10)
    for (const [p, row] of gate.entries()) {
      expect(row.length).toBe(24)
      expect(row.filter((v) => v !== 0).length).toBeLessThanOrEqual(K)
      for (let n = 0; n < 24; n++) expect(row[n]).toBeCloseTo(codes[p]![n]!, 5)
    }
  })

  it('generate --splice RUN [--steer UNIT=VALUE]: the spliced model writes, steering changes it, bad steers are refused', async () => {
    const gen = async (...extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      mxd(['generate', '--model', modelDir, '--prompt', 'Hello gate', '--max-tokens', '6', '--store', storeDir, '--json', ...extra])
    const parse = (stdout: string): { ids: number[]; splice?: { block: number; hook: string }; steer?: unknown } =>
      JSON.parse(stdout.trim().split('\n').at(-1)!) as { ids: number[]; splice?: { block: number; hook: string }; steer?: unknown }

    const plain = await gen('--splice', String(runId))
    expect(plain.code, plain.stderr).toBe(0)
    const p = parse(plain.stdout)
    expect(p.splice).toEqual({ block: 1, hook: 'blocks.1.mxd.hook_gate' })
    // Greedy: the first token is the argmax of the spliced forward's last logits.
    const fwd = await mxd(['forward', '--model', modelDir, '--text', 'Hello gate', '--splice', String(runId), '--store', storeDir, '--json'])
    const logits = (JSON.parse(fwd.stdout) as { logits: number[][] }).logits.at(-1)!
    expect(p.ids[0]).toBe(logits.indexOf(Math.max(...logits)))

    const steered = await gen('--splice', String(runId), '--steer', '3=500')
    expect(steered.code, steered.stderr).toBe(0)
    const s = parse(steered.stdout)
    expect(s.steer).toEqual([{ unit: 3, value: 500 }])
    expect(s.ids).not.toEqual(p.ids)

    const noSplice = await gen('--steer', '3')
    expect(noSplice.code).toBe(2)
    expect(noSplice.stderr).toMatch(/--steer needs --splice/)
    const outOfRange = await gen('--splice', String(runId), '--steer', '24=1')
    expect(outOfRange.code).toBe(1)
    expect(outOfRange.stderr).toMatch(/cannot steer unit 24: this layer has units 0…23/)
    const malformed = await gen('--splice', String(runId), '--steer', 'three=1')
    expect(malformed.code).toBe(2)
    expect(malformed.stderr).toMatch(/"three=1" is not UNIT or UNIT=VALUE/)
  })

  it('eval --run stores held-out metrics on the training run', async () => {
    const r = await mxd(['eval', '--run', String(runId), '--tokens', '256', '--store', storeDir, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { run: { status: string }; evaluated: number; metrics: Record<string, number> }
    expect(last.run.status).toBe('succeeded')
    expect(last.evaluated).toBe(runId)
    for (const name of ['eval.nmse', 'eval.fvu', 'eval.explained_variance', 'eval.l0', 'eval.ce_clean', 'eval.ce_spliced', 'eval.ce_zero', 'eval.loss_recovered']) {
      expect(Number.isFinite(last.metrics[name]), name).toBe(true)
    }
    expect(last.metrics['eval.l0']).toBeLessThanOrEqual(K)
    const runs = await mxd(['runs', '--id', String(runId), '--store', storeDir, '--json'])
    const detail = JSON.parse(runs.stdout) as { metrics: { name: string; step: number; value: number }[] }
    const nmse = detail.metrics.find((m) => m.name === 'eval.nmse')!
    expect(nmse).toMatchObject({ step: 12, value: last.metrics['eval.nmse'] })
    const text = await mxd(['eval', '--run', String(runId), '--tokens', '64', '--store', storeDir])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/CE spliced\s+\d+\.\d{6}/)
    expect(text.stdout).toMatch(/loss recovered/)
  })

  it('export then import gives a run whose splice is identical; a bad folder is refused and registers nothing', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mxd-e2e-export-')), 'layer')
    const ex = await mxd(['export', '--run', String(runId), '--out', out, '--store', storeDir])
    expect(ex.code, ex.stderr).toBe(0)
    const again = await mxd(['export', '--run', String(runId), '--out', out, '--store', storeDir])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/not empty.*--force/)
    const im = await mxd(['import', out, '--store', storeDir, '--json'])
    expect(im.code, im.stderr).toBe(0)
    const imported = JSON.parse(im.stdout) as { runId: number; architecture: string }
    expect(imported.architecture).toBe('mxd')
    const original = await spliced(String(runId))
    expect(await spliced(String(imported.runId))).toEqual(original)
    expect(await spliced(out)).toEqual(original) // a folder path works without a run

    const before = JSON.parse((await mxd(['runs', '--store', storeDir, '--json'])).stdout) as unknown[]
    const bad = mkdtempSync(join(tmpdir(), 'mxd-e2e-bad-'))
    mkdirSync(join(bad, 'empty'))
    const refused = await mxd(['import', join(bad, 'empty'), '--store', storeDir])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/empty has no cfg\.json/)
    const after = JSON.parse((await mxd(['runs', '--store', storeDir, '--json'])).stdout) as unknown[]
    expect(after.length).toBe(before.length)
  })
})
