// What a job sees while it runs inside a worker thread. A job is a plain async function of this
// context: it reads its config, resumes from `resumeFrom` when set, reports progress, writes
// metrics and checkpoints through its own store connection, and returns when `cancelled()`.
// Each job module exports one JobDefinition (defineJob); registry.ts lists them by kind.
import type { z } from 'zod'
import type { Checkpoint, JobProgress, RunKind } from '../shared/api.js'
import type { Store } from '../store/store.js'

// Jobs take JobError with the rest of their API; it is defined below every layer (shared/errors.ts)
// so that the services jobs call can throw it without importing the job layer.
export { JobError } from '../shared/errors.js'

export interface JobContext<Config> {
  runId: number
  kind: RunKind
  config: Config
  store: Store
  /** The newest checkpoint of this run, when it is being resumed. */
  resumeFrom: Checkpoint | undefined
  /** True once the user asked to cancel; check it between steps and return promptly. */
  cancelled(): boolean
  progress(p: ProgressUpdate): void
  log(level: 'info' | 'warn' | 'error', message: string): void
  /**
   * Writes `data` atomically into the run's folder and records it as the checkpoint of `step`,
   * together with `metrics` (at `step`) when given: both or neither survive a crash.
   */
  checkpoint(step: number, data: Uint8Array, name?: string, metrics?: Record<string, number>): string
}

export type ProgressUpdate = Pick<JobProgress, 'done' | 'total' | 'unit'> &
  Partial<Pick<JobProgress, 'message' | 'metrics' | 'perSecond' | 'etaSeconds'>>

export type JobFn<Config> = (ctx: JobContext<Config>) => Promise<void>

/**
 * One kind of job: the run kind it is registered under, the schema its stored config is parsed
 * with, and the function that runs it (a resume is the same call with ctx.resumeFrom set).
 */
export interface JobDefinition<Config = unknown> {
  readonly kind: RunKind
  readonly config: z.ZodType<Config>
  // Method syntax on purpose: its parameter is checked bivariantly, so a definition of any config
  // type fits the registry's JobDefinition<unknown>; the worker parses with this very `config`.
  run(ctx: JobContext<Config>): Promise<void>
}

export function defineJob<Config>(kind: RunKind, config: z.ZodType<Config>, run: JobFn<Config>): JobDefinition<Config> {
  return { kind, config, run }
}

/** Messages from a worker to the queue. */
export type WorkerMessage =
  | { type: 'progress'; progress: JobProgress }
  | { type: 'done'; status: 'succeeded' | 'cancelled' }
  | { type: 'failed'; error: string }

export interface WorkerData {
  runId: number
  storeDir: string
  nativeBinding?: string
  backend?: string
  /** Int32Array over it: [0] becomes 1 when the run is cancelled. */
  cancelFlag: SharedArrayBuffer
}
