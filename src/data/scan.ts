// One full pass over a dataset to learn what registering it records: content hash, documents,
// characters (or tokens, when pre-tokenized), how many documents the split holds out, and the
// lines that could not be used.
import { stat as statFile } from 'node:fs/promises'
import { basename, relative } from 'node:path'
import { describeFsError } from '../fs/user-files.js'
import { countCharacters, type DocumentKind } from './document.js'
import { DatasetError, listDatasetFiles, type DatasetFormat } from './formats.js'
import { combinedSha256, sha256Stream } from './hash.js'
import { MalformedLines, type MalformedSummary } from './malformed.js'
import { readDocuments, type ReadOptions } from './read.js'
import { splitOf, type SplitOptions } from './split.js'

export interface DatasetFileInfo {
  /** Relative to the dataset folder; the file's name for a one-file dataset. */
  path: string
  bytes: number
  mtimeMs: number
  sha256: string
}

export interface DatasetScan {
  root: string
  format: DatasetFormat
  kind: DocumentKind
  files: DatasetFileInfo[]
  /** A one-file dataset's own sha256 (as sha256sum prints it); a folder's combinedSha256. */
  sha256: string
  bytes: number
  documents: number
  /** Unicode characters of the text documents; 0 when pre-tokenized. */
  characters: number
  /** Token ids of the pre-tokenized documents; null for text (it depends on the tokenizer). */
  tokens: number | null
  heldOutDocuments: number
  malformed: MalformedSummary
}

export type ScanOptions = Omit<ReadOptions, 'malformed'> & SplitOptions

export async function scanDataset(path: string, opts: ScanOptions = {}): Promise<DatasetScan> {
  const dataset = listDatasetFiles(path)
  const single = dataset.files.length === 1 && dataset.files[0] === dataset.root
  const files: DatasetFileInfo[] = []
  for (const file of dataset.files) {
    // Async: registration runs on the server's event loop, and a dataset can be thousands of files.
    const stat = await statFile(file).catch((err: unknown) => Promise.reject(describeFsError(err, file, 'The dataset file')))
    const name = single ? basename(file) : relative(dataset.root, file)
    files.push({ path: name, bytes: stat.size, mtimeMs: stat.mtimeMs, sha256: await sha256Stream(file) })
  }

  const malformed = new MalformedLines()
  let kind: DocumentKind | null = null
  let documents = 0
  let characters = 0
  let tokens = 0
  let heldOutDocuments = 0
  for await (const doc of readDocuments(dataset, { ...opts, malformed })) {
    kind = doc.kind
    documents++
    if (doc.kind === 'text') characters += countCharacters(doc.text)
    else tokens += doc.ids.length
    if (splitOf(doc, opts) === 'heldout') heldOutDocuments++
  }
  if (kind === null) {
    throw new DatasetError(
      'unreadable',
      `${dataset.root} holds no documents${malformed.count ? ` (${malformed.count} unusable lines)` : ''}: every file is empty or blank.`,
    )
  }

  return {
    root: dataset.root,
    format: dataset.format,
    kind,
    files,
    sha256: single ? files[0]!.sha256 : combinedSha256(files),
    bytes: files.reduce((sum, f) => sum + f.bytes, 0),
    documents,
    characters,
    tokens: kind === 'tokens' ? tokens : null,
    heldOutDocuments,
    malformed: malformed.summary(),
  }
}
