// Worker-thread entry: runs one job for one run, on its own store connection and its own
// compute backend, and tells the queue how it went. Metrics and checkpoints are committed as
// they are made, so a crash loses at most the step in flight.
import { parentPort, workerData } from 'node:worker_threads'
import { join } from 'node:path'
import { initBackend, parseBackendName } from '../engine/backend.js'
import type { JobProgress } from '../shared/api.js'
import { writeFileAtomic } from '../store/files.js'
import { Store } from '../store/store.js'
import { RateMeter } from './rate.js'
import { jobs } from './registry.js'
import { JobError, type JobContext, type WorkerData, type WorkerMessage } from './job.js'

const PROGRESS_INTERVAL_MS = 250

function send(msg: WorkerMessage): void {
  parentPort!.postMessage(msg)
}

async function main(data: WorkerData): Promise<void> {
  const store = new Store({ dir: data.storeDir, nativeBinding: data.nativeBinding })
  const cancelFlag = new Int32Array(data.cancelFlag)
  try {
    const run = store.getRun(data.runId)
    if (!run) throw new JobError(`run ${data.runId} does not exist`)
    const job = jobs[run.kind]
    const config = job.config.parse(run.config)
    await initBackend(parseBackendName(data.backend))
    const meter = new RateMeter()
    let lastSent = 0
    const ctx: JobContext<unknown> = {
      runId: run.id,
      kind: run.kind,
      config,
      store,
      resumeFrom: store.latestCheckpoint(run.id),
      cancelled: () => Atomics.load(cancelFlag, 0) === 1,
      log: (level, message) => store.log(run.id, level, message),
      checkpoint: (step, bytes, name = 'checkpoint.bin', metrics) => {
        const path = join(store.runDir(run.id), `step-${step}-${name}`)
        const sha = writeFileAtomic(path, bytes)
        store.addCheckpoint(run.id, step, path, sha, metrics)
        return path
      },
      progress: (p) => {
        const perSecond = p.perSecond ?? meter.update(p.done)
        const t = performance.now()
        // Throttled, but an update carrying new metrics, and the last one of a run, always go out.
        const hasMetrics = p.metrics !== undefined && Object.keys(p.metrics).length > 0
        if (t - lastSent < PROGRESS_INTERVAL_MS && p.done < p.total && !hasMetrics) return
        lastSent = t
        const progress: JobProgress = {
          runId: run.id,
          kind: run.kind,
          fraction: p.total > 0 ? Math.min(1, p.done / p.total) : 0,
          unit: p.unit,
          done: p.done,
          total: p.total,
          perSecond,
          etaSeconds: p.etaSeconds !== undefined ? p.etaSeconds : RateMeter.eta(p.done, p.total, perSecond),
          message: p.message ?? '',
          metrics: p.metrics ?? {},
        }
        send({ type: 'progress', progress })
      },
    }
    await job.run(ctx)
    send({ type: 'done', status: ctx.cancelled() ? 'cancelled' : 'succeeded' })
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    send({ type: 'failed', error: message })
  } finally {
    store.close()
  }
}

await main(workerData as WorkerData)
