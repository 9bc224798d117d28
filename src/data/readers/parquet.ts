// Parquet: the document column is read one row group at a time, so memory holds one row group's
// column chunk (Hugging Face datasets write row groups of ~100 MB at most), never the file.
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema, type FileMetaData } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { DatasetError } from '../formats.js'
import type { Document } from '../document.js'
import type { MalformedLines } from '../malformed.js'
import { chooseField, soughtFields, TEXT_FIELD_HINT, toDocument, type FieldOptions } from './fields.js'

export async function* readParquet(file: string, opts: FieldOptions, malformed: MalformedLines): AsyncGenerator<Document> {
  const buffer = await asyncBufferFromFile(file)
  const metadata = await readMetadata(file, buffer)
  const columns = parquetSchema(metadata).children.map((c) => c.element.name)
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
  const tail = buffer.byteLength >= 8 ? new Uint8Array(await buffer.slice(buffer.byteLength - 4)) : new Uint8Array()
  if (Buffer.from(tail).toString('latin1') !== 'PAR1') {
    throw damaged(file, 'it does not end with the parquet footer, so it is truncated (an interrupted download?) or not a parquet file')
  }
  try {
    return await parquetMetadataAsync(buffer)
  } catch (err) {
    throw damaged(file, `its metadata could not be read: ${(err as Error).message}`, err)
  }
}

function damaged(file: string, why: string, cause?: unknown): DatasetError {
  return new DatasetError('unreadable', `${file} is not a readable parquet file: ${why}. Download or export it again.`, { cause })
}
