// The documents of a dataset (a file or a folder of files of one format), streamed in a fixed
// order: files in byte order of their path, then in file order.
import type { Document } from './document.js'
import { DatasetError, listDatasetFiles, type DatasetFiles, type DatasetFormat } from './formats.js'
import { MalformedLines } from './malformed.js'
import type { FieldOptions } from './readers/fields.js'
import { readJsonl } from './readers/jsonl.js'
import { readParquet } from './readers/parquet.js'
import { readTxt, type TxtDocuments } from './readers/txt.js'

export interface ReadOptions extends FieldOptions {
  /** .txt only: a document per blank-line-separated block (default) or per file. */
  txtDocuments?: TxtDocuments
  /** Where unusable lines are counted; pass one to see them after reading. */
  malformed?: MalformedLines
}

export async function* readDocuments(path: string | DatasetFiles, opts: ReadOptions = {}): AsyncGenerator<Document> {
  const dataset = typeof path === 'string' ? listDatasetFiles(path) : path
  const malformed = opts.malformed ?? new MalformedLines()
  // One kind for the whole dataset: a folder mixing text and pre-tokenized files would pack
  // ids into a stream the tokenizer never produced.
  let first: Document | null = null
  for (const file of dataset.files) {
    for await (const doc of readFile(dataset.format, file, opts, malformed)) {
      first ??= doc
      if (doc.kind !== first.kind) {
        throw new DatasetError(
          'unsupported',
          `${doc.file} is ${describeKind(doc)} but ${first.file} is ${describeKind(first)}: a dataset is all text or all token ids; register them separately.`,
        )
      }
      yield doc
    }
  }
}

function readFile(format: DatasetFormat, file: string, opts: ReadOptions, malformed: MalformedLines): AsyncGenerator<Document> {
  switch (format) {
    case 'txt':
      return readTxt(file, opts.txtDocuments, malformed)
    case 'jsonl':
      return readJsonl(file, opts, malformed)
    case 'parquet':
      return readParquet(file, opts, malformed)
  }
}

function describeKind(doc: Document): string {
  return doc.kind === 'text' ? 'text' : 'pre-tokenized (input_ids)'
}
