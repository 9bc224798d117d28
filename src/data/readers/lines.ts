// Line-by-line reading of text files in bounded memory, shared by the .txt and .jsonl readers.
import { openRegularFile } from '../../fs/user-files.js'
import { DatasetError, SUPPORTED_FORMATS } from '../formats.js'

const SNIFF_BYTES = 64 * 1024

/**
 * Refuses a file that is not text at all (an archive, an image, a parquet file renamed .jsonl):
 * NUL bytes never occur in UTF-8 text, and reading such a file line by line would report
 * thousands of nonsense "malformed lines" instead of the one thing to fix.
 */
export async function assertTextFile(file: string, expected: string): Promise<void> {
  // Non-blocking, regular files only: a FIFO named data.txt is refused here instead of hanging.
  const handle = await openRegularFile(file, 'The dataset file').catch((err: unknown) => {
    throw new DatasetError('unreadable', (err as Error).message, { cause: err })
  })
  try {
    const buffer = Buffer.alloc(SNIFF_BYTES)
    const { bytesRead } = await handle.read(buffer, 0, SNIFF_BYTES, 0)
    const head = buffer.subarray(0, bytesRead)
    if (head.includes(0)) {
      const what = head.subarray(0, 4).toString('latin1') === 'PAR1' ? 'a parquet file' : 'binary data, not text'
      throw new DatasetError(
        'unreadable',
        `${file} holds ${what}, but its name says ${expected}. Give it the extension of what it holds (datasets can be ${SUPPORTED_FORMATS}), or re-export it as ${expected}.`,
      )
    }
  } finally {
    await handle.close()
  }
}

/** Lines that are not valid UTF-8 are reported here (1-based line number) and not yielded. */
export type OnInvalidLine = (line: number, reason: string) => void

export const INVALID_UTF8 = 'not valid UTF-8 text (a file saved in another encoding, such as Latin-1 or UTF-16?): re-save the file as UTF-8'

/**
 * The lines of a UTF-8 file with 1-based numbers; a UTF-8 byte-order mark is dropped, CRLF is
 * read as LF. Lines are split on bytes and each is decoded strictly: a decoder that replaced bad
 * bytes with U+FFFD would train on text that is not in the file without anyone knowing.
 */
export async function* readLines(file: string, onInvalid?: OnInvalidLine): AsyncGenerator<{ line: number; text: string }> {
  const handle = await openRegularFile(file, 'The dataset file')
  const stream = handle.createReadStream({ highWaterMark: 1 << 20 })
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
  let line = 0
  let pending: Buffer[] = []
  const decode = (bytes: Buffer): string | null => {
    line++
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length
    try {
      const text = decoder.decode(bytes.subarray(0, end))
      return line === 1 && text.startsWith('\uFEFF') ? text.slice(1) : text
    } catch {
      onInvalid?.(line, INVALID_UTF8)
      return null
    }
  }
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0
      for (let nl = chunk.indexOf(0x0a, start); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
        const bytes = pending.length ? Buffer.concat([...pending, chunk.subarray(start, nl)]) : chunk.subarray(start, nl)
        pending = []
        start = nl + 1
        const text = decode(bytes)
        if (text !== null) yield { line, text }
      }
      if (start < chunk.length) pending.push(chunk.subarray(start))
    }
    if (pending.length) {
      const text = decode(Buffer.concat(pending))
      if (text !== null) yield { line, text }
    }
  } finally {
    stream.destroy()
    await handle.close().catch(() => {})
  }
}

/**
 * A whole file as one string (UTF-8, BOM dropped), for "one document per file". A file with
 * lines that are not UTF-8 gets them reported and left out, as in line-by-line reading.
 */
export async function readWholeText(file: string, onInvalid?: OnInvalidLine): Promise<string> {
  const handle = await openRegularFile(file, 'The dataset file')
  let bytes: Buffer
  try {
    bytes = await handle.readFile()
  } finally {
    await handle.close()
  }
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
    return text.startsWith('\uFEFF') ? text.slice(1) : text
  } catch {
    const lines: string[] = []
    for await (const { text } of readLines(file, onInvalid)) lines.push(text)
    return lines.join('\n')
  }
}
