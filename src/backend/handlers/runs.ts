import { ApiError, type ParsedInput, type Output } from '../../shared/api.js'
import type { BackendContext } from '../context.js'

export function listRuns(ctx: BackendContext, input: ParsedInput<'runs.list'>): Output<'runs.list'> {
  return ctx.store.listRuns({ limit: input.limit, kind: input.kind })
}

export function getRun(ctx: BackendContext, input: ParsedInput<'runs.get'>): Output<'runs.get'> {
  const run = ctx.store.getRun(input.id)
  if (!run) throw new ApiError('not_found', `There is no run ${input.id}.`)
  return {
    run,
    metrics: ctx.store.getMetrics(run.id),
    checkpoints: ctx.store.getCheckpoints(run.id),
    log: ctx.store.getLog(run.id),
  }
}
