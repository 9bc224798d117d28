// The job queue of one back-end process: runs queued runs one at a time (compute jobs share
// the same cores, so running two would only slow both), each in its own worker thread, and
// turns the worker's messages into run status changes and events for every client.
import type { Worker } from 'node:worker_threads'
import type { JobProgress, Run } from '../shared/api.js'
import type { Store } from '../store/store.js'
import type { WorkerData, WorkerMessage } from './job.js'
import { sourceWorkerFactory, type WorkerFactory } from './spawn.js'

export interface QueueEvents {
  progress(p: JobProgress): void
  runChanged(run: Run): void
}

/** How long a cancelled job may take to notice before its worker is stopped by force. */
const CANCEL_GRACE_MS = 10_000

interface Active {
  runId: number
  worker: Worker
  cancelFlag: Int32Array
  settled: boolean
}

export class JobQueue {
  private readonly pending: number[] = []
  private active: Active | undefined
  private idleWaiters: (() => void)[] = []

  constructor(
    private readonly store: Store,
    private readonly events: QueueEvents,
    private readonly opts: { workerFactory?: WorkerFactory; nativeBinding?: string; backend?: string } = {},
  ) {}

  /** Picks up runs left "queued" by an earlier session of this store. */
  restoreQueued(): void {
    for (const run of this.store.listRuns({ status: 'queued', limit: 100_000 }).reverse()) this.enqueue(run.id)
  }

  enqueue(runId: number): void {
    if (!this.pending.includes(runId) && this.active?.runId !== runId) this.pending.push(runId)
    this.pump()
  }

  get runningId(): number | undefined {
    return this.active?.runId
  }

  /** Cancels a queued run at once, or asks the running one to stop at its next step. */
  cancel(runId: number): Run {
    const i = this.pending.indexOf(runId)
    if (i >= 0) {
      this.pending.splice(i, 1)
      return this.changed(this.store.setRunStatus(runId, 'cancelled'))
    }
    const active = this.active
    if (active && active.runId === runId) {
      Atomics.store(active.cancelFlag, 0, 1)
      this.store.log(runId, 'info', 'Cancel requested.')
      setTimeout(() => {
        if (!active.settled) void active.worker.terminate()
      }, CANCEL_GRACE_MS).unref()
      return this.store.getRun(runId)!
    }
    throw new Error(`run ${runId} is not queued or running`)
  }

  /** Resolves when nothing is queued or running (tests, CLI). */
  whenIdle(): Promise<void> {
    if (!this.active && this.pending.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  async shutdown(): Promise<void> {
    this.pending.length = 0
    if (this.active) {
      Atomics.store(this.active.cancelFlag, 0, 1)
      await this.active.worker.terminate()
    }
  }

  private changed(run: Run): Run {
    this.events.runChanged(run)
    return run
  }

  private pump(): void {
    if (this.active) return
    const runId = this.pending.shift()
    if (runId === undefined) {
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiters) w()
      return
    }
    const run = this.store.getRun(runId)
    if (!run || run.status !== 'queued') return this.pump()
    const cancelFlag = new Int32Array(new SharedArrayBuffer(4))
    this.store.claimRun(runId)
    this.changed(this.store.setRunStatus(runId, 'running'))
    const data: WorkerData = {
      runId,
      storeDir: this.store.dir,
      nativeBinding: this.opts.nativeBinding,
      backend: this.opts.backend,
      cancelFlag: cancelFlag.buffer as SharedArrayBuffer,
    }
    const worker = (this.opts.workerFactory ?? sourceWorkerFactory)('job', data)
    const active: Active = { runId, worker, cancelFlag, settled: false }
    this.active = active
    const settle = (status: 'succeeded' | 'cancelled' | 'failed', error: string | null): void => {
      if (active.settled) return
      active.settled = true
      if (status === 'failed') this.store.log(runId, 'error', error ?? 'failed')
      this.changed(this.store.setRunStatus(runId, status, error))
      this.active = undefined
      void worker.terminate()
      this.pump()
    }
    worker.on('message', (msg: WorkerMessage) => {
      if (msg.type === 'progress') this.events.progress(msg.progress)
      else if (msg.type === 'done') settle(msg.status, null)
      else settle('failed', msg.error)
    })
    worker.on('error', (err) => settle('failed', `The job crashed: ${err.message}`))
    worker.on('exit', (code) => {
      const cancelled = Atomics.load(cancelFlag, 0) === 1
      if (cancelled) settle('cancelled', null)
      else settle('failed', `The job's worker stopped unexpectedly (exit code ${code}).`)
    })
  }
}
