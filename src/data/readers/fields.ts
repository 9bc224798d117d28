// Which field of a JSON object or column of a parquet file holds a document. Shared by the
// .jsonl and .parquet readers so both formats read the same way.
import { describeValue, toTokenIds, type Document, type DocumentKind } from '../document.js'

export const DEFAULT_TEXT_FIELD = 'text'
export const IDS_FIELD = 'input_ids'

export interface FieldOptions {
  /** The text's field or column; when given, the dataset is text, read from there. */
  textField?: string
}

/**
 * The field to read and what it holds, from the fields present: an explicit textField wins;
 * else "text", else "input_ids" (pre-tokenized). Null when none of them is there.
 */
export function chooseField(present: (name: string) => boolean, opts: FieldOptions): { field: string; kind: DocumentKind } | null {
  if (opts.textField !== undefined) return present(opts.textField) ? { field: opts.textField, kind: 'text' } : null
  if (present(DEFAULT_TEXT_FIELD)) return { field: DEFAULT_TEXT_FIELD, kind: 'text' }
  if (present(IDS_FIELD)) return { field: IDS_FIELD, kind: 'tokens' }
  return null
}

/** How a person names the field: the API's textField, the CLI's --text-field. */
export const TEXT_FIELD_HINT = 'as the text field (mxd datasets add --text-field NAME)'

/** What the fields sought are called, for messages: `"text" or "input_ids"`. */
export function soughtFields(opts: FieldOptions): string {
  return opts.textField !== undefined ? `"${opts.textField}"` : `"${DEFAULT_TEXT_FIELD}" or "${IDS_FIELD}"`
}

/** One value of the chosen field as a document, or the reason it cannot be one. */
export function toDocument(value: unknown, field: string, kind: DocumentKind, file: string, line: number): Document | string {
  if (kind === 'text') {
    return typeof value === 'string' ? { kind, text: value, file, line } : `"${field}" is ${describeValue(value)}, not a string`
  }
  const ids = toTokenIds(value)
  return typeof ids === 'string' ? `"${field}" ${ids}` : { kind, ids, file, line }
}
