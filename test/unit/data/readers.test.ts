import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DatasetError, listDatasetFiles } from '../../../src/data/formats.js'
import { MalformedLines } from '../../../src/data/malformed.js'
import { fixture, readAll, tempDir, texts } from './helpers.js'

describe('.txt', () => {
  it('reads one document per blank-line-separated block, numbered by its first line', async () => {
    const docs = await readAll(fixture('blocks.txt'))
    expect(texts(docs)).toEqual([
      'In the beginning was the first block.\nIt has two lines.',
      'The second block follows one blank line.',
      'The third block comes after three blank lines,\nand its lines are\njoined with newlines.',
    ])
    expect(docs.map((d) => d.line)).toEqual([1, 4, 8])
  })

  it('reads the whole file as one document when asked, byte for byte', async () => {
    const docs = await readAll(fixture('blocks.txt'), { txtDocuments: 'file' })
    expect(texts(docs)).toEqual([readFileSync(fixture('blocks.txt'), 'utf8')])
  })

  it('drops a UTF-8 byte-order mark and reads CRLF line ends', async () => {
    const file = join(tempDir(), 'crlf.txt')
    writeFileSync(file, '\uFEFFfirst\r\nblock\r\n\r\nsecond\r\n')
    expect(texts(await readAll(file))).toEqual(['first\nblock', 'second'])
  })

  it('refuses binary junk with the file named and the fix', async () => {
    const file = join(tempDir(), 'junk.txt')
    writeFileSync(file, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02, 0xff]))
    await expect(readAll(file)).rejects.toThrow(new RegExp(`${file} holds binary data, not text.*re-export it as plain text`))
  })
})

describe('.jsonl', () => {
  it('reads the "text" field and reports every unusable line with its number', async () => {
    const malformed = new MalformedLines()
    const docs = await readAll(fixture('docs.jsonl'), { malformed })
    expect(texts(docs)).toEqual(['The first document.', 'Second: ünïcödé and an emoji 👍.', 'The last document.\nIt has two lines.'])
    expect(docs.map((d) => d.line)).toEqual([1, 2, 8])
    const file = fixture('docs.jsonl')
    expect(malformed.count).toBe(4)
    expect(malformed.examples).toEqual([
      { file, line: 4, unit: 'line', reason: expect.stringMatching(/^not valid JSON/) },
      { file, line: 5, unit: 'line', reason: 'no "text" field' },
      { file, line: 6, unit: 'line', reason: '"text" is a number (42), not a string' },
      { file, line: 7, unit: 'line', reason: 'not a JSON object' },
    ])
  })

  it('reads another field when given one', async () => {
    const file = join(tempDir(), 'body.jsonl')
    writeFileSync(file, '{"body": "one"}\n{"text": "not this", "body": "two"}\n{"text": "missing body"}\n')
    const malformed = new MalformedLines()
    expect(texts(await readAll(file, { textField: 'body', malformed }))).toEqual(['one', 'two'])
    expect(malformed.examples).toEqual([{ file, line: 3, unit: 'line', reason: 'no "body" field' }])
  })

  it('reads pre-tokenized "input_ids" and reports non-integer and negative ids', async () => {
    const malformed = new MalformedLines()
    const docs = await readAll(fixture('tokens.jsonl'), { malformed })
    expect(docs.map((d) => d.kind)).toEqual(['tokens', 'tokens'])
    expect(texts(docs)).toEqual(['<464,3290,13>', '<50256,0>'])
    expect(docs[0]!.kind === 'tokens' && docs[0]!.ids).toBeInstanceOf(Int32Array)
    expect(malformed.examples.map((e) => [e.line, e.reason])).toEqual([
      [2, '"input_ids" item 0 is a number (1.5): token ids must be whole numbers'],
      [3, '"input_ids" item 0 is -1: token ids must be between 0 and 2147483647'],
      [4, '"input_ids" is a string ("abc"), not a list of token ids'],
    ])
  })

  it('counts every malformed line but keeps only the first 20 as examples', async () => {
    const file = join(tempDir(), 'many-bad.jsonl')
    const lines = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? `{"text": "doc ${i}"}` : `{bad ${i}`))
    writeFileSync(file, lines.join('\n') + '\n')
    const malformed = new MalformedLines()
    expect(await readAll(file, { malformed })).toHaveLength(25)
    expect(malformed.count).toBe(25)
    expect(malformed.examples).toHaveLength(20)
    expect(malformed.examples.map((e) => e.line)).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i + 2))
  })

  it('a file with no usable line at all is an error that names the file and the fix', async () => {
    const file = join(tempDir(), 'wrong-field.jsonl')
    writeFileSync(file, '{"content": "a"}\n{"content": "b"}\n')
    await expect(readAll(file)).rejects.toThrow(
      `${file}: no line is a JSON object with a "text" or "input_ids" field (first problem: line 1: no "text" or "input_ids" field). If the text is under another key, give it as the text field (mxd datasets add --text-field NAME)`,
    )
  })

  it('a parquet file renamed .jsonl is named as such', async () => {
    const file = join(tempDir(), 'renamed.jsonl')
    copyFileSync(fixture('docs.parquet'), file)
    await expect(readAll(file)).rejects.toThrow(`${file} holds a parquet file, but its name says JSON Lines (.jsonl)`)
  })
})

describe('.parquet', () => {
  it('reads the "text" column row group by row group and reports a null row', async () => {
    const malformed = new MalformedLines()
    const docs = await readAll(fixture('docs.parquet'), { malformed })
    expect(texts(docs)).toEqual(['The first document.', 'Zwei: ünïcödé ✓', 'Third one\nspans two lines.', 'The fifth and last document.'])
    expect(docs.map((d) => d.line)).toEqual([1, 2, 3, 5])
    expect(malformed.examples).toEqual([{ file: fixture('docs.parquet'), line: 4, unit: 'row', reason: '"text" is null, not a string' }])
  })

  it('reads a column under another name when given it, and names the columns when it is missing', async () => {
    expect(texts(await readAll(fixture('content-column.parquet'), { textField: 'content' }))).toEqual([
      'Text under another column name.',
      'Second row.',
    ])
    await expect(readAll(fixture('content-column.parquet'))).rejects.toThrow(
      `${fixture('content-column.parquet')} has no "text" or "input_ids" column; its columns are "content". Give the text column as the text field (mxd datasets add --text-field NAME).`,
    )
  })

  it('reads a pre-tokenized list<int64> "input_ids" column, reporting null and negative rows', async () => {
    const malformed = new MalformedLines()
    const docs = await readAll(fixture('tokens.parquet'), { malformed })
    expect(texts(docs)).toEqual(['<464,3290,13>', '<40,588>', '<15496,11,995,0>', '<>'])
    expect(docs.map((d) => d.line)).toEqual([1, 2, 4, 6])
    expect(malformed.examples.map((e) => [e.line, e.unit, e.reason])).toEqual([
      [3, 'row', '"input_ids" is null, not a list of token ids'],
      [5, 'row', '"input_ids" item 1 is -7: token ids must be between 0 and 2147483647'],
    ])
  })

  it('a truncated file is an error that names it and says what to do', async () => {
    const file = join(tempDir(), 'truncated.parquet')
    const whole = readFileSync(fixture('docs.parquet'))
    writeFileSync(file, whole.subarray(0, whole.length - 30))
    await expect(readAll(file)).rejects.toThrow(
      `${file} is not a readable parquet file: it does not end with the parquet footer, so it is truncated (an interrupted download?) or not a parquet file. Download or export it again.`,
    )
  })

  it('a damaged footer or damaged pages are errors, not crashes', async () => {
    const whole = readFileSync(fixture('docs.parquet'))
    const badFooter = join(tempDir(), 'bad-footer.parquet')
    writeFileSync(badFooter, Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(64, 0x7f), whole.subarray(whole.length - 8)]))
    await expect(readAll(badFooter)).rejects.toThrow(/bad-footer\.parquet is not a readable parquet file: .*Download or export it again\./)
    const badPages = join(tempDir(), 'bad-pages.parquet')
    const copy = Buffer.from(whole)
    copy.fill(0xee, 4, 200) // page headers and data of the first row group
    writeFileSync(badPages, copy)
    await expect(readAll(badPages)).rejects.toThrow(
      /bad-pages\.parquet is not a readable parquet file: row group 1 of 2 could not be decoded/,
    )
  })
})

describe('folders and paths', () => {
  it('reads a folder recursively in byte order of the paths, skipping hidden and unsupported files', async () => {
    expect(listDatasetFiles(fixture('folder')).files).toEqual([fixture('folder/a.jsonl'), fixture('folder/sub/b.jsonl')])
    expect(texts(await readAll(fixture('folder')))).toEqual(['Folder document A1.', 'Folder document A2.', 'Folder document B1.'])
  })

  it('refuses a folder mixing formats, or mixing text with token ids', async () => {
    const mixed = tempDir()
    copyFileSync(fixture('docs.jsonl'), join(mixed, 'a.jsonl'))
    copyFileSync(fixture('blocks.txt'), join(mixed, 'b.txt'))
    expect(() => listDatasetFiles(mixed)).toThrow(/mixes \.jsonl and \.txt files/)
    const kinds = tempDir()
    copyFileSync(fixture('docs.jsonl'), join(kinds, 'a.jsonl'))
    copyFileSync(fixture('tokens.jsonl'), join(kinds, 'b.jsonl'))
    await expect(readAll(kinds)).rejects.toThrow(/b\.jsonl is pre-tokenized \(input_ids\) but .*a\.jsonl is text/)
  })

  it('a missing path or an unsupported file names the supported formats', () => {
    const dir = tempDir()
    expect(() => listDatasetFiles(join(dir, 'nope.jsonl'))).toThrow(
      /There is no file or folder at .*nope\.jsonl\. Datasets can be \.txt .*\.jsonl .*\.parquet/,
    )
    const csv = join(dir, 'data.csv')
    writeFileSync(csv, 'a,b\n')
    expect(() => listDatasetFiles(csv)).toThrow(DatasetError)
    expect(() => listDatasetFiles(csv)).toThrow(/data\.csv is not a supported dataset file\. Datasets can be \.txt/)
    mkdirSync(join(dir, 'empty'))
    expect(() => listDatasetFiles(join(dir, 'empty'))).toThrow(/holds no dataset files/)
  })
})
