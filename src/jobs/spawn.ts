// How worker threads are started. From source (CLI, web mode, tests) a worker is TypeScript run
// through tsx; in the Electron build it is a bundled script beside the main bundle. Both kinds
// of worker exist in both: "job" runs one queued run, "engine" serves interactive model work
// (the Playground) with models kept loaded between requests.
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { applyOpenblasEnvDefaults } from '../engine/native/addon.js'

export type WorkerKind = 'job' | 'engine'
export type WorkerFactory = (kind: WorkerKind, data: object) => Worker

const SOURCES: Record<WorkerKind, string> = { job: './worker.ts', engine: './engine-worker.ts' }
const BUNDLES: Record<WorkerKind, string> = { job: 'worker.js', engine: 'engine-worker.js' }

// A worker may be the first to load OpenBLAS, which reads its settings from the process environment
// that only the main thread can change: so they are put there before any worker starts.
export const sourceWorkerFactory: WorkerFactory = (kind, data) => {
  applyOpenblasEnvDefaults()
  return new Worker(fileURLToPath(new URL('./worker-source.mjs', import.meta.url)), {
    workerData: { ...data, entry: new URL(SOURCES[kind], import.meta.url).href },
  })
}

/** Workers from the bundled scripts in `dir` (the Electron build's out/main). */
export const bundledWorkerFactory =
  (dir: string): WorkerFactory =>
  (kind, data) => {
    applyOpenblasEnvDefaults()
    return new Worker(join(dir, BUNDLES[kind]), { workerData: data })
  }
