// `mxd train` as a user runs it: a real process with --json, killed with SIGKILL after it has
// written a checkpoint, then `mxd train --resume RUN --lr X`: the run finishes with the same
// number of steps as planned at the new lr, its loss curve continues from the checkpoint (no
// restart from step 0), and the last JSON line carries the run and its final metrics. A run that
// diverges (lr 1) ends failed, says which lr to use instead, and the command exits non-zero.
import Database from 'better-sqlite3'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Rng } from '../../src/data/shuffle.js'
import { tinyModelWithByteTokenizer } from '../helpers/byte-tokenizer.js'
import { mxd } from '../helpers/mxd-cli.js'
import { waitFor } from '../helpers/wait.js'
import { mxdBin, repoRoot, tempStore } from '../helpers/web-process.js'

function corpus(dir: string): string {
  const words = 'the of and to in is was that for on with as by at from his her they this which be or are an'.split(' ')
  const rng = new Rng(5)
  const paragraphs = Array.from({ length: 600 }, () => Array.from({ length: 20 + rng.below(20) }, () => words[rng.below(words.length)]).join(' ') + '.')
  const path = join(dir, 'corpus.txt')
  writeFileSync(path, paragraphs.join('\n\n'))
  return path
}

function checkpoints(store: string): { run_id: number; step: number }[] {
  try {
    const db = new Database(join(store, 'mxd.sqlite'), { readonly: true, fileMustExist: true })
    try {
      return db.prepare('SELECT run_id, step FROM checkpoints ORDER BY id').all() as never
    } finally {
      db.close()
    }
  } catch {
    return [] // not created yet
  }
}

describe('mxd train', () => {
  it('resumes after SIGKILL from its last checkpoint and finishes the planned steps', async () => {
    const store = tempStore('mxd-train-cli-')
    const model = tinyModelWithByteTokenizer()
    const data = corpus(store)
    const steps = 150
    const args = ['train', '--store', store, '--json', '--model', model, '--layer', '1', '--data', data, '--kind', 'mxd', '--experts', '64', '--k', '4',
      '--ctx', '32', '--batch', '64', '--tokens', String(64 * steps), '--lr', '0.003', '--buffer-rows', '2048', '--checkpoint-steps', '10', '--no-eval']
    const child = spawn(process.execPath, [mxdBin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
    // Wait for two checkpoints, then kill without warning.
    await waitFor('two checkpoints', () => {
      if (child.exitCode !== null) throw new Error(`exited before two checkpoints: ${stdout.slice(-2000)}`)
      return checkpoints(store).length >= 2 ? true : undefined
    })
    child.kill('SIGKILL')
    await exited
    const atKill = checkpoints(store)
    const runId = atKill[0]!.run_id
    const lastStep = atKill.at(-1)!.step
    expect(lastStep).toBeLessThan(steps)
    const progress = stdout.trim().split('\n').map((l) => JSON.parse(l) as { progress?: { runId: number; unit: string } })
    expect(progress.some((p) => p.progress?.runId === runId && p.progress.unit === 'tokens')).toBe(true)

    const resumed = await mxd(['train', '--store', store, '--json', '--resume', String(runId), '--lr', '0.002'])
    expect(resumed.stderr).toBe('')
    expect(resumed.code).toBe(0)
    const last = JSON.parse(resumed.stdout.trim().split('\n').at(-1)!) as { run: { id: number; status: string }; metrics: Record<string, number> }
    expect(last.run).toMatchObject({ id: runId, status: 'succeeded', config: { lr: 0.002 } })
    expect(last.metrics.lr).toBe(0.002)
    expect(last.metrics.nmse).toBeLessThan(1)
    // The final checkpoint (the layer folder) is at the planned step; the resumed run's first
    // progress is past the checkpoint it resumed from.
    expect(checkpoints(store).at(-1)!.step).toBe(steps)
    const firstDone = resumed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { progress?: { done: number } })
      .find((p) => p.progress)!.progress!.done
    expect(firstDone).toBeGreaterThanOrEqual(lastStep * 64)
    // Loss reported every 10 steps, each step once, from the start to the end.
    const db = new Database(join(store, 'mxd.sqlite'), { readonly: true })
    const lossSteps = (db.prepare("SELECT step FROM metrics WHERE run_id = ? AND name = 'loss' ORDER BY step").all(runId) as { step: number }[]).map((r) => r.step)
    db.close()
    expect(lossSteps).toEqual(Array.from({ length: steps / 10 }, (_, i) => 10 * (i + 1)))
  }, 300_000)

  it('a diverging run (lr 1) ends failed with advice to lower the lr, and the command exits 1', async () => {
    const store = tempStore('mxd-train-diverge-')
    const model = tinyModelWithByteTokenizer()
    const data = corpus(store)
    const r = await mxd(['train', '--store', store, '--model', model, '--layer', '1', '--data', data, '--kind', 'mxd', '--experts', '64', '--k', '4',
      '--ctx', '32', '--batch', '64', '--tokens', String(64 * 40), '--lr', '1', '--seed', '0', '--buffer-rows', '2048'])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/run 1 failed: Training diverged: the training NMSE .* with lr 1\. Lower the learning rate: start a new run with --lr 0\.1\./)
    // What the run list shows: status failed with that error; no evaluation was queued.
    const list = await mxd(['runs', '--store', store, '--json'])
    const runs = JSON.parse(list.stdout) as { id: number; kind: string; status: string; error: string | null }[]
    expect(runs.map((x) => [x.kind, x.status])).toEqual([['convert', 'failed']])
    expect(runs[0]!.error).toMatch(/^Training diverged.*--lr 0\.1\.$/)
  }, 300_000)
})
