// `mxd classify` as a user runs it: real processes on a real store, a planted IDX folder given by
// path (registered by the command), train → eval, bad input, and a SIGKILLed training process
// resumed with --resume.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, expect, it } from 'vitest'
import type { ClassifyRunState } from '../../src/shared/classify.js'
import { mxd } from '../helpers/mxd-cli.js'
import { mxdBin, repoRoot, tempStore } from '../helpers/web-process.js'
import { writePlantedIdx } from '../unit/classify/planted.js'

const lastJson = (stdout: string): ClassifyRunState => JSON.parse(stdout.trim().split('\n').at(-1)!) as ClassifyRunState

describe('mxd classify', () => {
  it('train --data PATH registers and trains; eval reports accuracy per class; bad configs exit with the reason', async () => {
    const store = tempStore()
    const data = writePlantedIdx(join(store, 'planted'), { train: 40, test: 10 })
    const train = await mxd(['classify', 'train', '--data', data, '--model', 'mlp', '--hidden', '16', '--epochs', '3', '--batch', '16', '--lr', '0.01', '--json', '--store', store])
    expect(train.stderr).toBe('')
    expect(train.code).toBe(0)
    const state = lastJson(train.stdout)
    expect(state).toMatchObject({ kind: 'classify-train', status: 'succeeded', config: { dataset: 1, model: 'mlp', modelConfig: { hidden: 16 } } })
    expect(state.train!.test.accuracy).toBeGreaterThanOrEqual(0.95)

    const text = await mxd(['classify', 'eval', '--run', String(state.runId), '--store', store])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(`accuracy ${(100 * state.train!.test.accuracy).toFixed(2)}% (${state.train!.test.correct}/40) on `)
    expect(text.stdout).toMatch(/ {2}0 {2,}10 {2,}\d+\.\d\d%/)
    const json = lastJson((await mxd(['classify', 'eval', '--run', String(state.runId), '--json', '--store', store])).stdout)
    expect(json.evaluation!.confusion).toEqual(state.train!.test.confusion)

    const bad = await mxd(['classify', 'train', '--data', '1', '--model', 'mixer', '--patch', '3', '--store', store])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/mxd classify: invalid mixer config|patch/)
    const usage = await mxd(['classify', 'train', '--data', '1', '--store', store])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('--model logreg|mlp|mixer is required')
    expect((await mxd(['classify', 'fly', '--store', store])).stderr).toContain('unknown subcommand "fly": train, eval')
  })

  it('train --resume RUN continues a SIGKILLed run from its last checkpoint to the end', async () => {
    const store = tempStore()
    const data = writePlantedIdx(join(store, 'planted'), { train: 40, test: 10 })
    const EPOCHS = 40
    const child = spawn(
      process.execPath,
      [mxdBin, 'classify', 'train', '--data', data, '--model', 'mlp', '--hidden', '16', '--epochs', String(EPOCHS), '--batch', '16', '--lr', '0.01', '--json', '--store', store],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    // Killed once past the first epoch (whose end is checkpointed); 144 training images an epoch.
    let killedAt = 0
    for await (const line of createInterface({ input: child.stdout })) {
      const done = (JSON.parse(line) as { progress?: { done: number } }).progress?.done ?? 0
      if (done > 144) {
        killedAt = done
        child.kill('SIGKILL')
        break
      }
    }
    await new Promise((resolve) => child.once('exit', resolve))
    expect(killedAt).toBeGreaterThan(144)
    expect(killedAt).toBeLessThan(EPOCHS * 144)

    const resumed = await mxd(['classify', 'train', '--resume', '1', '--json', '--store', store])
    expect(resumed.code).toBe(0)
    const state = lastJson(resumed.stdout)
    expect(state.status).toBe('succeeded')
    expect(state.train!.epochs.map((e) => e.epoch)).toEqual(Array.from({ length: EPOCHS }, (_, i) => i + 1))
  })
})
