// JSON Lines: one object per line, the document in its "text" string (or another field) or,
// pre-tokenized, in its "input_ids" list. Blank lines are skipped; every other line that cannot
// be used is reported with its number.
import { DatasetError } from '../formats.js'
import type { Document, DocumentKind } from '../document.js'
import type { MalformedLines } from '../malformed.js'
import { chooseField, soughtFields, TEXT_FIELD_HINT, toDocument, type FieldOptions } from './fields.js'
import { assertTextFile, readLines } from './lines.js'

export async function* readJsonl(file: string, opts: FieldOptions, malformed: MalformedLines): AsyncGenerator<Document> {
  await assertTextFile(file, 'JSON Lines (.jsonl)')
  // Decided by the first object that has one of the fields, then held for the whole file, so
  // that a line missing "text" in a text file is reported rather than read as something else.
  let chosen: { field: string; kind: DocumentKind } | null = null
  let good = 0
  let firstProblem: string | null = null
  const report = (line: number, reason: string): void => {
    malformed.add({ file, line, unit: 'line', reason })
    firstProblem ??= `line ${line}: ${reason}`
  }

  for await (const { line, text } of readLines(file, report)) {
    if (text.trim().length === 0) continue
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      report(line, `not valid JSON (${(err as Error).message})`)
      continue
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      report(line, 'not a JSON object')
      continue
    }
    const obj = value as Record<string, unknown>
    chosen ??= chooseField((name) => Object.hasOwn(obj, name), opts)
    if (chosen === null || !Object.hasOwn(obj, chosen.field)) {
      report(line, `no ${chosen ? `"${chosen.field}"` : soughtFields(opts)} field`)
      continue
    }
    const doc = toDocument(obj[chosen.field], chosen.field, chosen.kind, file, line)
    if (typeof doc === 'string') {
      report(line, doc)
      continue
    }
    good++
    yield doc
  }

  if (good === 0 && firstProblem !== null) {
    throw new DatasetError(
      'unreadable',
      `${file}: no line is a JSON object with a ${soughtFields(opts)} field (first problem: ${firstProblem}). ` +
        `If the text is under another key, give it ${TEXT_FIELD_HINT}; otherwise check that the file is JSON Lines, one object per line.`,
    )
  }
}
