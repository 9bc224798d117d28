// Resume: a `mxd pretrain` process SIGKILLed mid-run (no chance to clean up) resumes from its
// last checkpoint and reproduces, step for step, the loss curve of an uninterrupted run with the
// same seed. Plus the job's other promises: metrics, a registered model folder the engine loads.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { Rng } from '../../../src/data/shuffle.js'
import { loadLanguageModel } from '../../../src/engine/models/load.js'
import type { ApiEvent, PretrainConfig, Run } from '../../../src/shared/api.js'
import { mxdBin, repoRoot } from '../../helpers/web-process.js'

const root = mkdtempSync(join(tmpdir(), 'mxd-pretrain-resume-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** 300 short "documents" of a small seeded vocabulary with some structure to learn. */
function writeCorpus(path: string): void {
  const rng = new Rng(5)
  const words = ['the', 'lord', 'said', 'unto', 'moses', 'and', 'he', 'went', 'up', 'into', 'mountain', 'of', 'god', 'people', 'land']
  const docs: string[] = []
  for (let d = 0; d < 300; d++) {
    const n = 8 + rng.below(20)
    docs.push(Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 'And' : words[rng.below(words.length)])).join(' ') + '.')
  }
  writeFileSync(path, docs.join('\n\n') + '\n')
}

const data = join(root, 'corpus.txt')
writeCorpus(data)

/** Optimizer steps of the run: enough after the first checkpoint that a kill lands mid-run on any machine. */
const STEPS = 48
const base = { data, lr: 1e-2, layers: 2, dModel: 16, heads: 2, ctx: 16, tokens: STEPS * 4 * 16, batch: 4, vocabSize: 300, seed: 11, evalEvery: 4, checkpointEvery: 6 }
const cliArgs = (store: string, out: string): string[] => [
  'pretrain', '--store', store, '--data', data, '--out', out, '--layers', '2', '--d-model', '16', '--heads', '2', '--ctx', '16',
  '--tokens', String(base.tokens), '--batch', '4', '--lr', '0.01', '--vocab', '300', '--seed', '11', '--eval-every', '4', '--checkpoint-every', '6', '--json',
]

function finished(b: Backend, id: number): Promise<Run> {
  return new Promise((resolve) => {
    const off = b.subscribe((e: ApiEvent) => {
      if (e.event === 'run.changed' && e.data.id === id && !['queued', 'running'].includes(e.data.status)) {
        off()
        resolve(e.data)
      }
    })
  })
}

const curve = (b: Backend, id: number, name: string): [number, number][] =>
  b.ctx.store
    .getMetrics(id)
    .filter((m) => m.name === name)
    .map((m): [number, number] => [m.step, m.value])
    .sort((x, y) => x[0] - y[0])

describe('pretrain job', () => {
  it('resumes a SIGKILLed `mxd pretrain` from its checkpoint and reproduces the uninterrupted loss curve', async () => {
    // The uninterrupted run, in a worker thread of this process.
    const b1 = await Backend.create({ storeDir: join(root, 'store-a') })
    let reference: [number, number][]
    let referenceHeldout: [number, number][]
    try {
      const config: PretrainConfig = { ...PretrainDefaults, ...base, out: join(root, 'model-a') }
      const { runId } = await b1.call('pretrain.start', config)
      const run = await finished(b1, runId)
      expect(run.status, run.error ?? '').toBe('succeeded')
      reference = curve(b1, runId, 'loss')
      referenceHeldout = curve(b1, runId, 'heldout_loss')
      expect(reference.map(([s]) => s)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1))
      expect(referenceHeldout.map(([s]) => s)).toEqual(Array.from({ length: STEPS / 4 }, (_, i) => 4 * (i + 1)))
      expect(reference.at(-1)![1]).toBeLessThan(reference[0]![1] - 0.5)
      for (const name of ['lr', 'grad_norm', 'tokens_per_s']) expect(curve(b1, runId, name)).toHaveLength(STEPS)
      // Registered as a model, and loadable by the engine.
      expect(b1.ctx.store.listModels().some((m) => m.path === config.out)).toBe(true)
      const model = await loadLanguageModel(config.out)
      expect(model.vocabSize).toBe(300)
      model.dispose()
    } finally {
      await b1.close()
    }

    // The same run as a `mxd pretrain` process, killed with SIGKILL once past its step-6 checkpoint.
    // How far it gets before the kill lands depends on the machine (the child runs on while this
    // process reads its output), so any later checkpoint may exist too: it resumes from the last.
    const store = join(root, 'store-b')
    const child = spawn(process.execPath, [mxdBin, ...cliArgs(store, join(root, 'model-b'))], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    let killedAt = 0
    for await (const line of createInterface({ input: child.stdout })) {
      const event = JSON.parse(line) as { progress?: { done: number } }
      const step = (event.progress?.done ?? 0) / (4 * 16)
      if (step > 6) {
        killedAt = step
        child.kill('SIGKILL')
        break
      }
    }
    await new Promise((resolve) => child.once('exit', resolve))
    expect(killedAt).toBeGreaterThan(6)
    expect(killedAt).toBeLessThan(STEPS)

    // A new process on that store finds the run interrupted and resumes it from its last checkpoint.
    const b2 = await Backend.create({ storeDir: store })
    try {
      const run = b2.ctx.store.listRuns({ kind: 'pretrain' })[0]!
      expect(run.status).toBe('interrupted')
      const saved = b2.ctx.store.getCheckpoints(run.id).map((c) => c.step)
      expect(saved.length).toBeGreaterThanOrEqual(1)
      expect(saved).toEqual(Array.from({ length: saved.length }, (_, i) => 6 * (i + 1)))
      expect(saved.at(-1)).toBeLessThan(STEPS)
      const done = finished(b2, run.id)
      await b2.call('jobs.resume', { id: run.id })
      expect((await done).status).toBe('succeeded')
      // Bit for bit: the same batches, the same weights, the same optimizer state.
      expect(curve(b2, run.id, 'loss')).toEqual(reference)
      expect(curve(b2, run.id, 'heldout_loss')).toEqual(referenceHeldout)
      expect(b2.ctx.store.getLog(run.id).some((l) => l.message.includes(`Resuming from the checkpoint of step ${saved.at(-1)}`))).toBe(true)
    } finally {
      await b2.close()
    }
  }, 180_000)
})

const PretrainDefaults = {
  mlp: 'dense',
  evalSequences: 64,
  heldOutFraction: 0.05,
  dtype: 'F32',
} as const
