// Plain text: either each file is one document, or (the default, as for books and crawls saved
// as text) each block of lines separated by one or more blank lines is one document.
import type { TextDocument } from '../document.js'
import type { MalformedLines } from '../malformed.js'
import { assertTextFile, readLines, readWholeText, type OnInvalidLine } from './lines.js'

export type TxtDocuments = 'blocks' | 'file'

export async function* readTxt(file: string, documents: TxtDocuments = 'blocks', malformed?: MalformedLines): AsyncGenerator<TextDocument> {
  await assertTextFile(file, 'plain text (.txt)')
  // A line that is not UTF-8 is left out of its block and counted, as a bad .jsonl line is.
  const onInvalid: OnInvalidLine = (line, reason) => malformed?.add({ file, line, unit: 'line', reason })
  if (documents === 'file') {
    const text = await readWholeText(file, onInvalid)
    if (text.trim().length > 0) yield { kind: 'text', text, file, line: 1 }
    return
  }
  let block: string[] = []
  let start = 0
  for await (const { line, text } of readLines(file, onInvalid)) {
    if (text.trim().length === 0) {
      if (block.length > 0) yield { kind: 'text', text: block.join('\n'), file, line: start }
      block = []
    } else {
      if (block.length === 0) start = line
      block.push(text)
    }
  }
  if (block.length > 0) yield { kind: 'text', text: block.join('\n'), file, line: start }
}
