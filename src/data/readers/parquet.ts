// Parquet: the document column is read one row group at a time, so memory holds one row group's
// column chunk (Hugging Face datasets write row groups of ~100 MB at most), never the file.
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema, type FileMetaData } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { openRegularFile } from '../../fs/user-files.js'
import { DatasetError } from '../formats.js'
import type { Document } from '../document.js'
import type { MalformedLines } from '../malformed.js'
import { chooseField, soughtFields, TEXT_FIELD_HINT, toDocument, type FieldOptions } from './fields.js'

export async function* readParquet(file: string, opts: FieldOptions, malformed: MalformedLines): AsyncGenerator<Document> {
  // hyparquet opens by path: check first that it is a regular file (a FIFO would block it).
  await (await openRegularFile(file, 'The dataset file')).close()
  const buffer = await asyncBufferFromFile(file)
  const metadata = await readMetadata(file, buffer)
  let columns: string[]
  try {
    columns = parquetSchema(metadata).children.map((c) => c.element.name)
  } catch (err) {
    throw damaged(file, `its schema could not be read: ${(err as Error).message}`, err)
  }
  const chosen = chooseField((name) => columns.includes(name), opts)
  if (chosen === null) {
    throw new DatasetError(
      'unreadable',
      `${file} has no ${soughtFields(opts)} column; its columns are ${columns.map((c) => `"${c}"`).join(', ')}. Give the text column ${TEXT_FIELD_HINT}.`,
    )
  }

  let rowStart = 0
  for (const [group, rowGroup] of metadata.row_groups.entries()) {
    const rowEnd = rowStart + Number(rowGroup.num_rows)
    let rows: Record<string, unknown>[]
    try {
      rows = await parquetReadObjects({ file: buffer, metadata, columns: [chosen.field], rowStart, rowEnd, compressors })
    } catch (err) {
      throw damaged(file, `row group ${group + 1} of ${metadata.row_groups.length} could not be decoded: ${(err as Error).message}`, err)
    }
    for (const [i, row] of rows.entries()) {
      const line = rowStart + i + 1
      const doc = toDocument(row[chosen.field], chosen.field, chosen.kind, file, line)
      if (typeof doc === 'string') malformed.add({ file, line, unit: 'row', reason: doc })
      else yield doc
    }
    rowStart = rowEnd
  }
}

async function readMetadata(file: string, buffer: Awaited<ReturnType<typeof asyncBufferFromFile>>): Promise<FileMetaData> {
  // A parquet file starts and ends with "PAR1"; a file that has only the end is damaged at the
  // start, and hyparquet (which reads from the footer) would otherwise read it without complaint.
  const head = buffer.byteLength >= 12 ? new Uint8Array(await buffer.slice(0, 4)) : new Uint8Array()
  const tail = buffer.byteLength >= 12 ? new Uint8Array(await buffer.slice(buffer.byteLength - 4)) : new Uint8Array()
  if (Buffer.from(tail).toString('latin1') !== 'PAR1') {
    throw damaged(file, 'it does not end with the parquet footer, so it is truncated (an interrupted download?) or not a parquet file')
  }
  if (Buffer.from(head).toString('latin1') !== 'PAR1') {
    throw damaged(file, 'it does not start with the parquet magic bytes "PAR1", so its beginning is damaged or it is not a parquet file')
  }
  let metadata: FileMetaData
  try {
    metadata = await parquetMetadataAsync(buffer)
  } catch (err) {
    throw damaged(file, `its footer (metadata) could not be read: ${(err as Error).message}`, err)
  }
  // A footer can decode and still be nonsense: row groups whose counts do not add up, or column
  // chunks pointing past the end of the file.
  if (!Array.isArray(metadata?.row_groups)) throw damaged(file, 'its footer (metadata) is corrupted: it lists no row groups')
  const rows = metadata.row_groups.reduce((sum, g) => sum + Number(g.num_rows), 0)
  const chunksInside = metadata.row_groups.every((g) =>
    (g.columns ?? []).every((c) => {
      const m = c.meta_data
      if (!m) return true
      // Some writers put 0 for "no dictionary page": fall back to the data page then.
      const dict = Number(m.dictionary_page_offset ?? 0)
      const start = dict > 0 ? Math.min(dict, Number(m.data_page_offset)) : Number(m.data_page_offset)
      return start >= 4 && start + Number(m.total_compressed_size) <= buffer.byteLength
    }),
  )
  if (rows !== Number(metadata.num_rows) || !chunksInside) {
    throw damaged(file, 'its footer (metadata) is corrupted: the row counts or column positions do not match the file')
  }
  return metadata
}

function damaged(file: string, why: string, cause?: unknown): DatasetError {
  return new DatasetError('unreadable', `${file} is not a readable parquet file: ${why}. Download or export it again.`, { cause })
}
