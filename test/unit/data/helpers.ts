import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Document } from '../../../src/data/document.js'
import { readDocuments, type ReadOptions } from '../../../src/data/read.js'

// Fixtures written by hand, and the .parquet ones by make_parquet.py beside them.
export const FIXTURES = join(import.meta.dirname, '../../fixtures/datasets')
export const fixture = (name: string): string => join(FIXTURES, name)
export const GPT2 = join(import.meta.dirname, '../../fixtures/tokenizers/gpt2')

export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'mxd-data-'))

export async function readAll(path: string, opts: ReadOptions = {}): Promise<Document[]> {
  const docs: Document[] = []
  for await (const doc of readDocuments(path, opts)) docs.push(doc)
  return docs
}

export const texts = (docs: Document[]): string[] => docs.map((d) => (d.kind === 'text' ? d.text : `<${d.ids.join(',')}>`))

export function textDoc(text: string, line = 1): Document {
  return { kind: 'text', text, file: 'mem', line }
}
