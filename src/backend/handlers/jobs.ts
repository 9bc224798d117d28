import { existsSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import { ApiError, type ParsedInput, type Output } from '../../shared/api.js'
import type { BackendContext } from '../context.js'

export function startBenchBackend(ctx: BackendContext, input: ParsedInput<'jobs.benchBackend'>): Output<'jobs.benchBackend'> {
  const run = ctx.store.createRun('bench-backend', input)
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

export function startPretrain(ctx: BackendContext, input: ParsedInput<'jobs.pretrain'>): Output<'jobs.pretrain'> {
  if (!isAbsolute(input.out)) throw new ApiError('bad_request', `Give the output folder as an absolute path, not "${input.out}".`)
  if (!existsSync(input.data)) throw new ApiError('bad_request', `There is no dataset at ${input.data}.`)
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
  ctx.store.log(run.id, 'info', 'Resumed.')
  ctx.store.setRunStatus(run.id, 'queued')
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}
