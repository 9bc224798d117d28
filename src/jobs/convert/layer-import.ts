// The `layer-import` kind: an imported layer is registered as a finished run (convert/export.ts)
// so that it can be listed and evaluated like a trained one; it has nothing to run.
import { ImportedLayerConfig } from '../../shared/convert-eval.js'
import { JobError } from '../../shared/errors.js'
import { defineJob } from '../job.js'

/** Should such a run be queued (a resume), it fails with what to do instead. */
export const layerImportJob = defineJob('layer-import', ImportedLayerConfig, async () => {
  throw new JobError('An imported layer has nothing to run: evaluate it with "mxd eval --run ID".')
})
