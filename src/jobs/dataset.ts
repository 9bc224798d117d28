// The dataset a job reads: a registered id, or a path registered on first use (and reused after).
// One rule for every job (the conversion and its evaluation both name data this way): a path's
// existing row is reused only while its files are as registered and it was read with the text
// field asked for; otherwise the path is registered again, so the job never reads a changed file
// with a stale record (hash, documents, held-out split) nor a JSONL file by the wrong field.
import { resolve } from 'node:path'
import { getDataset, listDatasets, registerDataset } from '../data/registry.js'
import type { Dataset } from '../shared/api.js'
import { JobError } from '../shared/errors.js'
import type { Store } from '../store/store.js'

export async function resolveDataset(store: Store, data: string | number, textField: string | undefined): Promise<Dataset> {
  if (typeof data === 'number') {
    const ds = getDataset(store.db, data)
    if (!ds) throw new JobError(`There is no dataset #${data}: list them with "mxd datasets list".`)
    return ds
  }
  const path = resolve(data)
  const known = listDatasets(store.db).find((d) => d.path === path && d.status === 'ok' && (textField === undefined || d.textField === textField))
  if (known) return known
  try {
    return await registerDataset(store.db, path, { textField })
  } catch (err) {
    throw new JobError((err as Error).message)
  }
}
