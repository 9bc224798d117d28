// What every reader yields: one document, either text to tokenize or ids already tokenized,
// with where it came from so that problems and harvested examples can point back at the source.

export type DocumentKind = 'text' | 'tokens'

interface Origin {
  /** The file it was read from (absolute). */
  file: string
  /** 1-based: the line for .txt (a block's first line) and .jsonl, the row for .parquet. */
  line: number
}

export interface TextDocument extends Origin {
  kind: 'text'
  text: string
}

export interface TokenDocument extends Origin {
  kind: 'tokens'
  ids: Int32Array
}

export type Document = TextDocument | TokenDocument

/** Token ids are stored as int32 everywhere (the packer's sequences, the models' inputs). */
const MAX_ID = 2 ** 31 - 1

/**
 * The ids of a pre-tokenized row (a JSON array, or a parquet list that may hold bigints), or the
 * reason it is not a list of token ids.
 */
export function toTokenIds(value: unknown): Int32Array | string {
  if (!Array.isArray(value) && !ArrayBuffer.isView(value)) return `is ${describeValue(value)}, not a list of token ids`
  const list = value as ArrayLike<unknown>
  const ids = new Int32Array(list.length)
  for (let i = 0; i < list.length; i++) {
    const v = list[i]
    const n = typeof v === 'bigint' ? Number(v) : v
    if (typeof n !== 'number' || !Number.isInteger(n)) return `item ${i} is ${describeValue(v)}: token ids must be whole numbers`
    if (n < 0 || n > MAX_ID) return `item ${i} is ${n}: token ids must be between 0 and ${MAX_ID}`
    ids[i] = n
  }
  return ids
}

/** "null", "a number (3)", "a string": for messages about values of the wrong type. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 20 ? value.slice(0, 20) + '…' : value)})`
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return `a ${typeof value} (${String(value)})`
  return `a ${typeof value}`
}

/** Unicode code points of a string (astral characters are two UTF-16 units but one character). */
export function countCharacters(text: string): number {
  let surrogatePairs = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) surrogatePairs++
  }
  return text.length - surrogatePairs
}
