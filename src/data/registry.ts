// Registered datasets in the store's `datasets` table: path (unique), name, sha256 and the scan
// in `info` (JSON). Registering a path again updates its row, keeping its id and added_at, and
// remembers the old hash when the content changed; listing notices files changed since.
import type Database from 'better-sqlite3'
import { statSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { Dataset } from '../shared/api.js'
import { DatasetError, listDatasetFiles } from './formats.js'
import type { ReadOptions } from './read.js'
import { scanDataset, type DatasetFileInfo, type DatasetScan } from './scan.js'
import { DEFAULT_HELD_OUT_FRACTION, type SplitOptions } from './split.js'

export interface RegisterOptions {
  textField?: string
  heldOutFraction?: number
}

/** What `info` holds: the scan less what has a column of its own, plus the options used. */
type StoredInfo = Omit<DatasetScan, 'root' | 'sha256'> & {
  textField: string | null
  heldOutFraction: number
  updatedAt: string
  previousSha256: string | null
}

interface DatasetRow {
  id: number
  path: string
  name: string
  sha256: string
  info: string
  added_at: string
}

export async function registerDataset(db: Database.Database, path: string, opts: RegisterOptions = {}): Promise<Dataset> {
  const heldOutFraction = opts.heldOutFraction ?? DEFAULT_HELD_OUT_FRACTION
  const scan = await scanDataset(path, { textField: opts.textField, heldOutFraction })
  const before = db.prepare('SELECT * FROM datasets WHERE path = ?').get(scan.root) as DatasetRow | undefined
  const { root, sha256, ...rest } = scan
  const now = new Date().toISOString()
  const info: StoredInfo = {
    ...rest,
    textField: opts.textField ?? null,
    heldOutFraction,
    updatedAt: now,
    previousSha256: before && before.sha256 !== sha256 ? before.sha256 : null,
  }
  db.prepare(
    `INSERT INTO datasets (path, name, sha256, info, added_at, modality) VALUES (?, ?, ?, ?, ?, 'text')
     ON CONFLICT(path) DO UPDATE SET name = excluded.name, sha256 = excluded.sha256, info = excluded.info, modality = excluded.modality`,
  ).run(root, basename(root), sha256, JSON.stringify(info), now)
  return toDataset(db.prepare('SELECT * FROM datasets WHERE path = ?').get(root) as DatasetRow)
}

/** The text datasets (image datasets: src/data/images/registry.ts). */
export function listDatasets(db: Database.Database): Dataset[] {
  return (db.prepare("SELECT * FROM datasets WHERE modality = 'text' ORDER BY id").all() as DatasetRow[]).map(toDataset)
}

/** A text dataset; an image dataset's id is refused with what it is for. */
export function getDataset(db: Database.Database, id: number): Dataset | undefined {
  const row = db.prepare('SELECT * FROM datasets WHERE id = ?').get(id) as (DatasetRow & { modality: string }) | undefined
  if (row?.modality === 'images') {
    throw new DatasetError(
      'unsupported',
      `Dataset #${id} (${row.name}) is an image dataset: it trains image classifiers, not language models. Pick a text dataset (mxd datasets lists them).`,
    )
  }
  return row ? toDataset(row) : undefined
}

/**
 * How to read a registered dataset as it was scanned, and split it as its record says: pass to
 * readDocuments(dataset.path, …) and packSequences(…, { ...datasetOptions(dataset), split, ctx }).
 */
export function datasetOptions(dataset: Dataset): Omit<ReadOptions, 'malformed'> & SplitOptions {
  return { ...(dataset.textField !== null ? { textField: dataset.textField } : {}), heldOutFraction: dataset.heldOutFraction }
}

function toDataset(row: DatasetRow): Dataset {
  const info = JSON.parse(row.info) as StoredInfo
  return {
    id: row.id,
    path: row.path,
    name: row.name,
    modality: 'text',
    sha256: row.sha256,
    format: info.format,
    kind: info.kind,
    textField: info.textField,
    files: info.files.length,
    bytes: info.bytes,
    documents: info.documents,
    characters: info.characters,
    tokens: info.tokens,
    heldOutFraction: info.heldOutFraction,
    heldOutDocuments: info.heldOutDocuments,
    malformed: info.malformed,
    addedAt: row.added_at,
    updatedAt: info.updatedAt,
    previousSha256: info.previousSha256,
    status: fileStatus(row.path, info.files),
  }
}

/**
 * Whether the files are as registered, by name, size and modification time: cheap enough to
 * run on every listing of multi-GB datasets, where hashing is not. Re-registering re-hashes.
 */
function fileStatus(root: string, registered: DatasetFileInfo[]): Dataset['status'] {
  let files: string[]
  try {
    files = listDatasetFiles(root).files
  } catch (err) {
    return err instanceof DatasetError && err.reason === 'missing' ? 'missing' : 'changed'
  }
  if (files.length !== registered.length) return 'changed'
  const single = files.length === 1 && files[0] === root
  for (const f of registered) {
    const path = single ? root : join(root, f.path)
    let stat
    try {
      stat = statSync(path)
    } catch {
      return 'changed'
    }
    if (stat.size !== f.bytes || stat.mtimeMs !== f.mtimeMs) return 'changed'
  }
  return 'ok'
}
