import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import { DatasetError } from '../../data/formats.js'
import { listDatasets as listStored, registerDataset } from '../../data/registry.js'
import { listImageLocations as knownLocations } from '../../data/images/known.js'
import { listImageDatasets, registerImageDataset } from '../../data/images/registry.js'
import { readImageRows } from '../../data/images/rows.js'
import type { BackendContext } from '../context.js'

export function listDatasets(ctx: BackendContext): Output<'datasets.list'> {
  return listStored(ctx.store.db)
}

export async function addDataset(ctx: BackendContext, input: ParsedInput<'datasets.add'>): Promise<Output<'datasets.add'>> {
  return asApiError(() => registerDataset(ctx.store.db, input.path, { textField: input.textField, heldOutFraction: input.heldOutFraction }))
}

export async function addImages(ctx: BackendContext, input: ParsedInput<'images.add'>): Promise<Output<'images.add'>> {
  const { path, ...opts } = input
  return asApiError(() => registerImageDataset(ctx.store, path, opts))
}

export function listImages(ctx: BackendContext): Promise<Output<'images.list'>> {
  return listImageDatasets(ctx.store.db)
}

export function listImageLocations(): Promise<Output<'images.listLocations'>> {
  return knownLocations()
}

/** A few images of a split as base64 pixels: only those rows of the cache are read (data/images/rows.ts). */
export async function getImages(ctx: BackendContext, input: ParsedInput<'images.get'>): Promise<Output<'images.get'>> {
  const r = await asApiError(() => readImageRows(ctx.store, input.datasetId, input.split, input.indices))
  return {
    datasetId: input.datasetId,
    split: input.split,
    height: r.height,
    width: r.width,
    channels: r.channels,
    classes: r.classes,
    images: r.rows.map((x) => ({ index: x.index, label: x.label, pixels: Buffer.from(x.pixels.buffer, x.pixels.byteOffset, x.pixels.byteLength).toString('base64') })),
  }
}

async function asApiError<T>(register: () => Promise<T>): Promise<T> {
  try {
    return await register()
  } catch (err) {
    if (err instanceof DatasetError) throw new ApiError(err.reason === 'missing' ? 'not_found' : 'bad_request', err.message)
    throw err
  }
}
