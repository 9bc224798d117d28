import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import { DatasetError } from '../../data/formats.js'
import { listDatasets as listStored, registerDataset } from '../../data/registry.js'
import type { BackendContext } from '../context.js'

export function listDatasets(ctx: BackendContext): Output<'datasets.list'> {
  return listStored(ctx.store.db)
}

export async function addDataset(ctx: BackendContext, input: ParsedInput<'datasets.add'>): Promise<Output<'datasets.add'>> {
  try {
    return await registerDataset(ctx.store.db, input.path, { textField: input.textField, heldOutFraction: input.heldOutFraction })
  } catch (err) {
    if (err instanceof DatasetError) throw new ApiError(err.reason === 'missing' ? 'not_found' : 'bad_request', err.message)
    throw err
  }
}
