import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import type { BackendContext } from '../context.js'
import { modelRow } from './models.js'

export function startGeneration(ctx: BackendContext, input: ParsedInput<'playground.generate'>): Output<'playground.generate'> {
  const row = modelRow(ctx, input.modelId)
  if (input.prompt.length === 0) throw new ApiError('bad_request', 'Type a prompt first.')
  return { generationId: ctx.engine.generate(row.path, input) }
}

export function stopGeneration(ctx: BackendContext, input: ParsedInput<'playground.stop'>): Output<'playground.stop'> {
  return { stopped: ctx.engine.stop(input.generationId) }
}
