// What a job sees while it runs inside a worker thread. A job is a plain async function of this
// context: it reads its config, resumes from `resumeFrom` when set, reports progress, writes
// metrics and checkpoints through its own store connection, and returns when `cancelled()`.
import type { Checkpoint, JobProgress, RunKind } from '../shared/api.js'
import type { Store } from '../store/store.js'

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

/** Thrown by a job for a failure the user can fix; its message is shown as it is. */
export class JobError extends Error {}

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
