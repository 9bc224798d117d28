// Runs the "convert" job in this process on a temporary (or given) store, without the queue:
// the quickest way to time a conversion or debug it.
//   node --import tsx bench/mxd-train/job-harness.ts '{"model":"resources/models/kjv-gpt2-mini","layer":2,"data":"resources/corpus/kjv/train.txt","tokens":100000}'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConvertConfig } from '../../src/shared/convert.js'
import { trainConversion, type TrainHooks, type TrainResult } from '../../src/jobs/convert/train.js'
import { initBackend } from '../../src/engine/backend.js'
import type { JobContext } from '../../src/jobs/job.js'
import { writeFileAtomic } from '../../src/store/files.js'
import { Store } from '../../src/store/store.js'

/** A JobContext like the worker's, on `store`, for run `runId` (created when absent). */
export function jobContext(store: Store, config: ConvertConfig, opts: { runId?: number; cancelAfter?: () => boolean; quiet?: boolean } = {}): JobContext<ConvertConfig> {
  const runId = opts.runId ?? store.createRun('convert', config, 'running').id
  return {
    runId,
    kind: 'convert',
    config,
    store,
    resumeFrom: store.latestCheckpoint(runId),
    cancelled: opts.cancelAfter ?? (() => false),
    progress: (p) => {
      if (!opts.quiet && p.metrics && Object.keys(p.metrics).length > 0) console.log(JSON.stringify({ done: p.done, ...p.metrics }))
    },
    log: (level, message) => {
      store.log(runId, level, message)
      if (!opts.quiet) console.log(`[${level}] ${message}`)
    },
    checkpoint: (step, bytes, name = 'checkpoint.bin', metrics) => {
      const path = join(store.runDir(runId), `step-${step}-${name}`)
      store.addCheckpoint(runId, step, path, writeFileAtomic(path, bytes), metrics)
      return path
    },
  }
}

export async function runConversion(store: Store, input: unknown, hooks?: TrainHooks): Promise<TrainResult | null> {
  await initBackend()
  return trainConversion(jobContext(store, ConvertConfig.parse(input)), hooks)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const store = new Store({ dir: process.argv[3] ?? mkdtempSync(join(tmpdir(), 'mxd-harness-')) })
  const t0 = performance.now()
  const result = await runConversion(store, JSON.parse(process.argv[2] ?? '{}'))
  console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, step: result?.step, metrics: result?.metrics }))
  store.close()
}
