// Task files: .csv (quoted fields with commas, quotes and line breaks) and .jsonl, and errors
// that name the file, the line and the fix.
import { describe, expect, it } from 'vitest'
import { parseTaskFile } from '../../../src/analysis/probe/task-file.js'

const fields = { textField: 'text', labelField: 'label', maxExamples: 100 }

describe('parseTaskFile', () => {
  it('reads RFC 4180 CSV with the columns in any order', () => {
    const csv = 'id,label,text\r\n1,a,"hello, world"\n2,b,"say ""hi""\nthen go"\n\n3,7,plain\n'
    expect(parseTaskFile(csv, 't.csv', fields)).toEqual([
      { text: 'hello, world', label: 'a', line: 2 },
      { text: 'say "hi"\nthen go', label: 'b', line: 3 },
      { text: 'plain', label: '7', line: 6 },
    ])
  })

  it('reads JSONL with other field names, numbers as labels, up to maxExamples', () => {
    const jsonl = '{"s":"one","y":1}\n\n{"s":"two","y":"x"}\n{"s":"three","y":"x"}\n'
    expect(parseTaskFile(jsonl, 't.jsonl', { textField: 's', labelField: 'y', maxExamples: 2 })).toEqual([
      { text: 'one', label: '1', line: 1 },
      { text: 'two', label: 'x', line: 3 },
    ])
  })

  it('names the file, the line and the fix', () => {
    expect(() => parseTaskFile('{"text":"a","label":"x"}\n{"body":"b","label":"y"}', '/d/t.jsonl', fields)).toThrow(
      '/d/t.jsonl:2: no "text" field (it has "body", "label"): name the text field with --text-field.',
    )
    expect(() => parseTaskFile('{"text":"a","label":"x"}\n{oops', '/d/t.jsonl', fields)).toThrow(/^\/d\/t\.jsonl:2: not valid JSON/)
    expect(() => parseTaskFile('{"text":"a","label":""}', '/d/t.jsonl', fields)).toThrow(/t\.jsonl:1: the "label" field must be a non-empty string/)
    expect(() => parseTaskFile('text,topic\na,b\n', '/d/t.csv', fields)).toThrow('/d/t.csv:1: the header has no "label" column (it has "text", "topic"): name the label column with --label-field.')
    expect(() => parseTaskFile('text,label\na,b\nc,d,e\n', '/d/t.csv', fields)).toThrow(/t\.csv:3: 3 fields where the header has 2: quote any field/)
    expect(() => parseTaskFile('text,label\n"open,b\n', '/d/t.csv', fields)).toThrow(/t\.csv:2: a quoted field is never closed/)
    expect(() => parseTaskFile('a\tb', '/d/t.tsv', fields)).toThrow(/t\.tsv: a probing task is a \.csv or \.jsonl file/)
  })
})
