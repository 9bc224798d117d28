// Plain text: either each file is one document, or (the default, as for books and crawls saved
// as text) each block of lines separated by one or more blank lines is one document.
import type { TextDocument } from '../document.js'
import { assertTextFile, readLines, readWholeText } from './lines.js'

export type TxtDocuments = 'blocks' | 'file'

export async function* readTxt(file: string, documents: TxtDocuments = 'blocks'): AsyncGenerator<TextDocument> {
  await assertTextFile(file, 'plain text (.txt)')
  if (documents === 'file') {
    const text = await readWholeText(file)
    if (text.trim().length > 0) yield { kind: 'text', text, file, line: 1 }
    return
  }
  let block: string[] = []
  let start = 0
  for await (const { line, text } of readLines(file)) {
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
