// A layer run's folder, for the jobs that read a layer (feature index, probe, steering score):
// a layer-file problem (no run, no layer file, a bad one) fails the run with its message as is.
import { runLayerDir } from '../convert/export.js'
import { LayerFileError } from '../convert/layer-file.js'
import type { Store } from '../store/store.js'
import { JobError } from '../shared/errors.js'

export function jobLayerDir(store: Store, layerRunId: number): string {
  try {
    return runLayerDir(store, layerRunId)
  } catch (err) {
    if (err instanceof LayerFileError) throw new JobError(err.message)
    throw err
  }
}
