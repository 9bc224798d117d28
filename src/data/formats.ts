// Which files hold a dataset and in what format. A dataset is one file or a folder of files of
// one format (as Hugging Face dataset repositories ship: data/train-00000-of-00042.parquet, …).
import { readdirSync, statSync, type Stats } from 'node:fs'
import { extname, join, relative, resolve } from 'node:path'
import { describeFsError, refuseSystemPathSync, SYSTEM_ROOTS } from '../fs/user-files.js'

export type DatasetFormat = 'txt' | 'jsonl' | 'parquet'

const EXTENSIONS: Record<string, DatasetFormat> = {
  '.txt': 'txt',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.parquet': 'parquet',
}

export const SUPPORTED_FORMATS =
  '.txt (plain text: one document per blank-line-separated block), .jsonl (one JSON object per line with a "text" string or an "input_ids" list) ' +
  'and .parquet (a "text" or "input_ids" column), as one file or a folder of files of one format'

/** Why a dataset cannot be read at all; `reason` lets the API answer not_found or bad_request. */
export class DatasetError extends Error {
  constructor(
    readonly reason: 'missing' | 'unsupported' | 'unreadable',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'DatasetError'
  }
}

export function formatOf(file: string): DatasetFormat | null {
  return EXTENSIONS[extname(file).toLowerCase()] ?? null
}

export interface DatasetFiles {
  /** The path as given, made absolute. */
  root: string
  format: DatasetFormat
  /** Absolute paths in a fixed order (byte order of the relative path), so every read is the same. */
  files: string[]
}

/**
 * A folder scan visits at most this many files and folders: a dataset folder holds its shards,
 * not a whole disk, and "datasets add /" must end with an answer, not read every file there is.
 */
export const MAX_SCAN_ENTRIES = 100_000

/**
 * The dataset files at `path`. Only stat and readdir, never an open, so a FIFO or device cannot
 * block it; it stays synchronous because listing datasets (fileStatus) is, in workers too, and
 * is bounded by MAX_SCAN_ENTRIES. /proc, /sys and /dev are refused, at the top or met inside.
 */
export function listDatasetFiles(path: string): DatasetFiles {
  const root = resolve(path)
  try {
    refuseSystemPathSync(root, 'The dataset')
  } catch (err) {
    throw asDatasetError(err, root)
  }
  let stat: Stats
  try {
    stat = statSync(root)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DatasetError('missing', `There is no file or folder at ${root}. Datasets can be ${SUPPORTED_FORMATS}.`)
    }
    throw asDatasetError(err, root)
  }
  if (stat.isFile()) {
    const format = formatOf(root)
    if (!format) throw new DatasetError('unsupported', `${root} is not a supported dataset file. Datasets can be ${SUPPORTED_FORMATS}.`)
    return { root, format, files: [root] }
  }
  if (!stat.isDirectory()) {
    throw new DatasetError('unsupported', `${root} is ${kindOf(stat)}, neither a regular file nor a folder: point to the dataset file or folder itself. Datasets can be ${SUPPORTED_FORMATS}.`)
  }

  const files = walk(root, root, { entries: 0 }).sort((a, b) => compareBytes(relative(root, a), relative(root, b)))
  const formats = [...new Set(files.map((f) => formatOf(f)!))]
  if (formats.length === 0) {
    throw new DatasetError('unsupported', `The folder ${root} holds no dataset files. Datasets can be ${SUPPORTED_FORMATS}.`)
  }
  if (formats.length > 1) {
    throw new DatasetError(
      'unsupported',
      `The folder ${root} mixes ${formats.map((f) => `.${f}`).join(' and ')} files: a dataset is files of one format, so register each format's files from a folder of their own.`,
    )
  }
  return { root, format: formats[0]!, files }
}

function asDatasetError(err: unknown, path: string): DatasetError {
  if (err instanceof DatasetError) return err
  return new DatasetError('unreadable', describeFsError(err, path).message, { cause: err })
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a named pipe (FIFO)'
  if (st.isSocket()) return 'a socket'
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device'
  return 'not a regular file'
}

/**
 * Supported files under `dir`, recursively; hidden files and folders (.git, .cache) are skipped,
 * as are symbolic links (a link loop or a link to / would make the scan endless). A folder that
 * cannot be read, or a system folder met on the way, stops the scan with its name: a dataset
 * read in part would be trained on without anyone knowing what was left out.
 */
function walk(dir: string, root: string, seen: { entries: number }): string[] {
  const found: string[] = []
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch (err) {
    throw new DatasetError('unreadable', `${describeFsError(err, dir).message} It is inside the dataset folder ${root}: give a folder that holds only the dataset's files.`, { cause: err })
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue
    if (++seen.entries > MAX_SCAN_ENTRIES) {
      throw new DatasetError(
        'unsupported',
        `The folder ${root} holds more than ${MAX_SCAN_ENTRIES.toLocaleString('en-US')} files and folders, more than a dataset folder should: choose the folder that holds the dataset's files themselves.`,
      )
    }
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if ((SYSTEM_ROOTS as readonly string[]).includes(path)) {
        throw new DatasetError(
          'unsupported',
          `The folder ${root} contains ${path}, which holds the system's kernel and device files: it is not a dataset folder. Choose the folder that holds the dataset's files.`,
        )
      }
      found.push(...walk(path, root, seen))
    } else if (formatOf(path)) {
      if (entry.isFile()) found.push(path)
      else if (!entry.isSymbolicLink()) {
        throw new DatasetError(
          'unsupported',
          `${path} is ${entry.isFIFO() ? 'a named pipe (FIFO)' : entry.isSocket() ? 'a socket' : 'a device'}, not a regular file, so it cannot be read as a dataset: replace it with the file itself or remove it from ${root}.`,
        )
      }
    }
  }
  return found
}

/** Locale-independent order, so two machines list a folder the same way. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}
