// Follow-up evaluation: when a conversion (`convert`) run succeeds, its layer is evaluated on the
// held-out split by a `convert-eval` run queued right behind it, unless the run's config says
// evaluate: false. A listener on the back end's run.changed events, so neither the queue nor the
// training job (src/jobs/convert/train.ts) needs to know about evaluation (src/jobs/convert/eval.ts);
// it names both by their RunKind only, and so does not load the jobs themselves.
import { ConvertEvalConfig } from '../shared/convert-eval.js'
import type { ApiEvent, Run } from '../shared/api.js'
import type { BackendContext } from './context.js'

/** The follow-up evaluation's config for a finished conversion run, or null when none is wanted. */
export function followUpConfig(run: Run): ConvertEvalConfig | null {
  if (run.kind !== 'convert' || run.status !== 'succeeded' || run.config.evaluate === false) return null
  const tokens = run.config.evalTokens
  return ConvertEvalConfig.parse({ trainRunId: run.id, ...(typeof tokens === 'number' ? { tokens } : {}) })
}

/** Subscribe the result to Backend events: queues the follow-up evaluation of each successful conversion. */
export function followUpEvaluation(ctx: BackendContext): (e: ApiEvent) => void {
  return (e) => {
    if (e.event !== 'run.changed') return
    const config = followUpConfig(e.data)
    if (!config) return
    try {
      const evalRun = ctx.store.createRun('convert-eval', config)
      ctx.store.log(e.data.id, 'info', `Queued its evaluation on held-out data as run ${evalRun.id}.`)
      ctx.queue.enqueue(evalRun.id)
    } catch (err) {
      ctx.store.log(e.data.id, 'warn', `Could not queue the follow-up evaluation: ${(err as Error).message}`)
    }
  }
}
