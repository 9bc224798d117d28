// Runs a job in this process and follows it to the end: a progress bar on a TTY, or with
// --json one JSON line per progress event and a last line with the run and its final metrics.
// Ctrl-C cancels the run (it can be resumed later with its checkpoints).
import type { Backend } from '../backend/backend.js'
import type { Run, RunDetail } from '../shared/api.js'
import type { CommandContext } from './command.js'
import { ProgressBar } from './progress.js'

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'interrupted'])

export async function followRun(ctx: CommandContext, backend: Backend, runId: number): Promise<RunDetail> {
  const bar = new ProgressBar(ctx.err)
  const finished = new Promise<Run>((resolve) => {
    const unsubscribe = backend.subscribe((e) => {
      if (e.event === 'job.progress' && e.data.runId === runId) {
        if (ctx.json) ctx.printJson({ progress: e.data })
        else bar.update(e.data)
      } else if (e.event === 'run.changed' && e.data.id === runId && TERMINAL.has(e.data.status)) {
        unsubscribe()
        resolve(e.data)
      }
    })
    // The run may have ended before we subscribed (a fast job, a queued run cancelled at once).
    const now = backend.ctx.store.getRun(runId)
    if (now && TERMINAL.has(now.status)) {
      unsubscribe()
      resolve(now)
    }
  })
  const onSigint = (): void => {
    ctx.err.write('\nCancelling… (resume later with the run id)\n')
    void backend.call('jobs.cancel', { id: runId }).catch(() => undefined)
  }
  process.once('SIGINT', onSigint)
  try {
    await finished
  } finally {
    process.off('SIGINT', onSigint)
    bar.done()
  }
  return backend.call('runs.get', { id: runId })
}

/** The last value of each metric: what a user reads as "the result". */
export function finalMetrics(detail: RunDetail): Record<string, number> {
  const out: Record<string, number> = {}
  for (const m of detail.metrics) out[m.name] = m.value
  return out
}
