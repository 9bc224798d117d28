// Line-by-line reading of text files in bounded memory, shared by the .txt and .jsonl readers.
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { DatasetError, SUPPORTED_FORMATS } from '../formats.js'

const SNIFF_BYTES = 64 * 1024

/**
 * Refuses a file that is not text at all (an archive, an image, a parquet file renamed .jsonl):
 * NUL bytes never occur in UTF-8 text, and reading such a file line by line would report
 * thousands of nonsense "malformed lines" instead of the one thing to fix.
 */
export async function assertTextFile(file: string, expected: string): Promise<void> {
  const handle = await open(file, 'r')
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

/** The lines of a UTF-8 file with 1-based numbers; a UTF-8 byte-order mark is dropped. */
export async function* readLines(file: string): AsyncGenerator<{ line: number; text: string }> {
  const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  let line = 0
  try {
    for await (const raw of lines) {
      line++
      yield { line, text: line === 1 && raw.startsWith('\uFEFF') ? raw.slice(1) : raw }
    }
  } finally {
    lines.close()
    stream.destroy()
  }
}

/** A whole file as one string (UTF-8, BOM dropped), for "one document per file". */
export async function readWholeText(file: string): Promise<string> {
  const chunks: string[] = []
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) chunks.push(chunk as string)
  const text = chunks.join('')
  return text.startsWith('\uFEFF') ? text.slice(1) : text
}
