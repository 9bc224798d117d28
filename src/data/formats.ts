// Which files hold a dataset and in what format. A dataset is one file or a folder of files of
// one format (as Hugging Face dataset repositories ship: data/train-00000-of-00042.parquet, …).
import { readdirSync, statSync, type Stats } from 'node:fs'
import { extname, join, relative, resolve } from 'node:path'

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

export function listDatasetFiles(path: string): DatasetFiles {
  const root = resolve(path)
  let stat: Stats
  try {
    stat = statSync(root)
  } catch {
    throw new DatasetError('missing', `There is no file or folder at ${root}. Datasets can be ${SUPPORTED_FORMATS}.`)
  }
  if (stat.isFile()) {
    const format = formatOf(root)
    if (!format) throw new DatasetError('unsupported', `${root} is not a supported dataset file. Datasets can be ${SUPPORTED_FORMATS}.`)
    return { root, format, files: [root] }
  }
  if (!stat.isDirectory())
    throw new DatasetError('unsupported', `${root} is neither a file nor a folder. Datasets can be ${SUPPORTED_FORMATS}.`)

  const files = walk(root).sort((a, b) => compareBytes(relative(root, a), relative(root, b)))
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

/** Supported files under `dir`, recursively; hidden files and folders (.git, .cache) are skipped. */
function walk(dir: string): string[] {
  const found: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) found.push(...walk(path))
    else if (entry.isFile() && formatOf(path)) found.push(path)
  }
  return found
}

/** Locale-independent order, so two machines list a folder the same way. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}
