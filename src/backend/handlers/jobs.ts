import { isAbsolute } from 'node:path'
import { pathExists } from '../../fs/user-files.js'
import { ApiError, type ParsedInput, type Output } from '../../shared/api.js'
import type { BackendContext } from '../context.js'
import { ConvertConfig } from '../../shared/convert.js'

export function startBenchBackend(ctx: BackendContext, input: ParsedInput<'bench.start'>): Output<'bench.start'> {
  const run = ctx.store.createRun('bench-backend', input)
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

export async function startPretrain(ctx: BackendContext, input: ParsedInput<'pretrain.start'>): Promise<Output<'pretrain.start'>> {
  if (!isAbsolute(input.out)) throw new ApiError('bad_request', `Give the output folder as an absolute path, not "${input.out}".`)
  if (!(await pathExists(input.data))) throw new ApiError('bad_request', `There is no dataset at ${input.data}.`)
  const run = ctx.store.createRun('pretrain', input)
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

export function cancel(ctx: BackendContext, input: ParsedInput<'jobs.cancel'>): Output<'jobs.cancel'> {
  const run = ctx.store.getRun(input.id)
  if (!run) throw new ApiError('not_found', `There is no run ${input.id}.`)
  if (run.status !== 'queued' && run.status !== 'running') {
    throw new ApiError('conflict', `Run ${run.id} is ${run.status}; only a queued or running run can be cancelled.`)
  }
  return { status: ctx.queue.cancel(run.id).status }
}

const RESUMABLE = new Set(['interrupted', 'cancelled', 'failed'])

export function resume(ctx: BackendContext, input: ParsedInput<'jobs.resume'>): Output<'jobs.resume'> {
  const run = ctx.store.getRun(input.id)
  if (!run) throw new ApiError('not_found', `There is no run ${input.id}.`)
  if (!RESUMABLE.has(run.status)) {
    throw new ApiError('conflict', `Run ${run.id} is ${run.status}; only an interrupted, cancelled or failed run can be resumed.`)
  }
  let lrNote = ''
  if (input.lr !== undefined) {
    if (run.kind !== 'convert') throw new ApiError('bad_request', `Run ${run.id} is a ${run.kind} run; only a conversion run can be resumed with a new learning rate.`)
    const config = { ...run.config, lr: input.lr }
    ConvertConfig.parse(config) // the stored one was valid; the new lr is within the schema's range
    // The stored config is what the worker runs with, so the new lr is part of the run's record.
    ctx.store.setRunConfig(run.id, config)
    lrNote = ` with lr ${input.lr} (was ${String(run.config.lr)})`
  }
  // Say whether the job will go on from a checkpoint: a run stopped before its first one starts over.
  const from = ctx.store.latestCheckpoint(run.id)
  if (from) ctx.store.log(run.id, 'info', `Resumed from the checkpoint of step ${from.step}${lrNote}.`)
  else {
    // Starting over re-reports every step: the earlier attempt's curves would be drawn twice.
    const cleared = ctx.store.clearMetrics(run.id)
    ctx.store.log(run.id, 'info', `Resumed${lrNote}: no checkpoint yet: starting over${cleared > 0 ? ` (the earlier attempt's ${cleared} metric values are cleared)` : ''}.`)
  }
  ctx.store.setRunStatus(run.id, 'queued')
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}
