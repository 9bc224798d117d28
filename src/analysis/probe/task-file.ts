// A probing task: labelled texts from a .csv (a header row names the columns; RFC 4180 quoting:
// fields in double quotes may hold commas, newlines and "" for a quote) or a .jsonl file (one
// JSON object a line). Every problem names the file, the line and what to do about it: a task
// file is written by hand or by a script, and a silent skip would change the task.

export interface LabelledExample {
  text: string
  label: string
  /** The line the example starts on (1-based), for messages. */
  line: number
}

export class TaskFileError extends Error {}

export interface TaskFields {
  textField: string
  labelField: string
  /** Examples read at most (the first ones). */
  maxExamples: number
}

/** The format a task file's name says. */
export function taskFormat(path: string): 'csv' | 'jsonl' {
  const lower = path.toLowerCase()
  if (lower.endsWith('.csv')) return 'csv'
  if (lower.endsWith('.jsonl')) return 'jsonl'
  throw new TaskFileError(`${path}: a probing task is a .csv or .jsonl file of labelled texts; rename or convert it.`)
}

function labelOf(value: unknown): string | null {
  if (typeof value === 'string') return value.trim() === '' ? null : value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  if (typeof value === 'boolean') return String(value)
  return null
}

export function parseJsonl(content: string, file: string, f: TaskFields): LabelledExample[] {
  const out: LabelledExample[] = []
  const lines = content.split('\n')
  for (let i = 0; i < lines.length && out.length < f.maxExamples; i++) {
    const raw = lines[i]!.trim()
    if (raw === '') continue
    const at = `${file}:${i + 1}`
    let row: unknown
    try {
      row = JSON.parse(raw)
    } catch (err) {
      throw new TaskFileError(`${at}: not valid JSON (${(err as Error).message}); each line must be one object such as {"${f.textField}": "…", "${f.labelField}": "…"}.`)
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new TaskFileError(`${at}: each line must be a JSON object such as {"${f.textField}": "…", "${f.labelField}": "…"}.`)
    }
    const record = row as Record<string, unknown>
    out.push(fieldsOf(record[f.textField], record[f.labelField], at, Object.keys(record), f, i + 1))
  }
  return out
}

function fieldsOf(text: unknown, label: unknown, at: string, present: string[], f: TaskFields, line: number): LabelledExample {
  const has = `(it has ${present.length > 0 ? present.map((k) => JSON.stringify(k)).join(', ') : 'no fields'})`
  if (text === undefined) throw new TaskFileError(`${at}: no "${f.textField}" field ${has}: name the text field with --text-field.`)
  if (typeof text !== 'string') throw new TaskFileError(`${at}: the "${f.textField}" field must be a string, not ${JSON.stringify(text)?.slice(0, 40)}.`)
  if (label === undefined) throw new TaskFileError(`${at}: no "${f.labelField}" field ${has}: name the label field with --label-field.`)
  const l = labelOf(label)
  if (l === null) throw new TaskFileError(`${at}: the "${f.labelField}" field must be a non-empty string or a number, not ${JSON.stringify(label)?.slice(0, 40)}.`)
  return { text, label: l, line }
}

/** RFC 4180 records with the line each starts on; quoted fields may span lines. */
function* csvRecords(content: string, file: string): Generator<{ fields: string[]; line: number }> {
  let line = 1
  let i = 0
  const n = content.length
  while (i < n) {
    const start = line
    const fields: string[] = []
    let field = ''
    let quoted = false
    let wasQuoted = false
    for (;;) {
      if (i >= n) {
        if (quoted) throw new TaskFileError(`${file}:${start}: a quoted field is never closed: end it with a double quote (write "" for a quote inside it).`)
        fields.push(field)
        break
      }
      const ch = content[i]!
      if (quoted) {
        if (ch === '"') {
          if (content[i + 1] === '"') {
            field += '"'
            i += 2
          } else {
            quoted = false
            i++
          }
        } else {
          if (ch === '\n') line++
          field += ch
          i++
        }
        continue
      }
      if (ch === '"' && field === '' && !wasQuoted) {
        quoted = true
        wasQuoted = true
        i++
      } else if (ch === ',') {
        fields.push(field)
        field = ''
        wasQuoted = false
        i++
      } else if (ch === '\n' || ch === '\r') {
        fields.push(field)
        i += ch === '\r' && content[i + 1] === '\n' ? 2 : 1
        line++
        break
      } else if (wasQuoted) {
        throw new TaskFileError(`${file}:${line}: text after a closing quote: quote the whole field, and write "" for a quote inside it.`)
      } else {
        field += ch
        i++
      }
    }
    // A blank line is no record.
    if (!(fields.length === 1 && fields[0] === '' && !wasQuoted)) yield { fields, line: start }
  }
}

export function parseCsv(content: string, file: string, f: TaskFields): LabelledExample[] {
  const records = csvRecords(content.replace(/^\uFEFF/, ''), file)
  const head = records.next()
  if (head.done) throw new TaskFileError(`${file}: the file is empty: a .csv task needs a header row naming its columns ("${f.textField},${f.labelField}") and one row per example.`)
  const header = head.value.fields.map((h) => h.trim())
  const ti = header.indexOf(f.textField)
  const li = header.indexOf(f.labelField)
  const columns = header.map((h) => JSON.stringify(h)).join(', ')
  if (ti < 0) throw new TaskFileError(`${file}:${head.value.line}: the header has no "${f.textField}" column (it has ${columns}): name the text column with --text-field.`)
  if (li < 0) throw new TaskFileError(`${file}:${head.value.line}: the header has no "${f.labelField}" column (it has ${columns}): name the label column with --label-field.`)
  const out: LabelledExample[] = []
  for (const r of records) {
    if (out.length >= f.maxExamples) break
    if (r.fields.length !== header.length) {
      throw new TaskFileError(
        `${file}:${r.line}: ${r.fields.length} fields where the header has ${header.length}: quote any field holding a comma or a line break ("like, this").`,
      )
    }
    out.push(fieldsOf(r.fields[ti], r.fields[li], `${file}:${r.line}`, header, f, r.line))
  }
  return out
}

/** A task file's content parsed by its format. */
export function parseTaskFile(content: string, file: string, f: TaskFields): LabelledExample[] {
  return taskFormat(file) === 'csv' ? parseCsv(content, file, f) : parseJsonl(content, file, f)
}
