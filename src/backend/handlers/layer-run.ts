// A layer run's folder, for the handlers that start work on a layer (index, probe, score,
// evaluate, export, inspect): the one place that turns a layer-file problem into an API error.
import { runLayerDir } from '../../convert/export.js'
import { LayerFileError } from '../../convert/layer-file.js'
import { SafetensorsError } from '../../engine/safetensors.js'
import { ApiError } from '../../shared/api.js'
import type { BackendContext } from '../context.js'

/** Layer-file problems are the user's to fix (bad_request), a missing run is not_found. */
export function asApiError(err: unknown): unknown {
  if (err instanceof LayerFileError || err instanceof SafetensorsError) {
    return new ApiError(/^There is no run/.test(err.message) ? 'not_found' : 'bad_request', err.message)
  }
  return err
}

/** The folder of run `runId`'s layer (a conversion or an import), refused with the reason when there is none. */
export function layerRunDir(ctx: BackendContext, runId: number): string {
  try {
    return runLayerDir(ctx.store, runId)
  } catch (err) {
    throw asApiError(err)
  }
}
