// `mxd datasets` as a user runs it: a real process on a real store.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { mxd } from '../helpers/mxd-cli.js'
import { repoRoot, tempStore } from '../helpers/web-process.js'

const fixture = (name: string): string => join(repoRoot, 'test/fixtures/datasets', name)

describe('mxd datasets', () => {
  it('add --json registers a file with its report; adding again updates it; the list shows it once', async () => {
    const store = tempStore()
    const r = await mxd(['datasets', 'add', fixture('docs.jsonl'), '--json', '--store', store])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const d = JSON.parse(r.stdout) as { id: number; documents: number; malformed: { count: number; examples: { line: number }[] } }
    expect(d).toMatchObject({ id: 1, name: 'docs.jsonl', format: 'jsonl', documents: 3, status: 'ok' })
    expect(d.malformed.count).toBe(4)
    expect(d.malformed.examples.map((e) => e.line)).toEqual([4, 5, 6, 7])

    const again = JSON.parse((await mxd(['datasets', 'add', fixture('docs.jsonl'), '--json', '--store', store])).stdout) as { id: number }
    expect(again.id).toBe(1)
    const parquet = await mxd(['datasets', 'add', fixture('docs.parquet'), '--json', '--store', store])
    expect(JSON.parse(parquet.stdout)).toMatchObject({ id: 2, format: 'parquet', documents: 4 })

    const list = JSON.parse((await mxd(['datasets', '--json', '--store', store])).stdout) as { id: number; name: string }[]
    expect(list.map((x) => [x.id, x.name])).toEqual([
      [1, 'docs.jsonl'],
      [2, 'docs.parquet'],
    ])
  })

  it('resolves a relative path against where it runs; text output lists the unusable lines', async () => {
    const store = tempStore()
    const r = await mxd(['datasets', 'add', 'docs.jsonl', '--held-out', '0.5', '--store', store], { cwd: fixture('') })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /1 {2}docs\.jsonl · jsonl · 3 documents, 86 characters · \d held out · sha256 [0-9a-f]{12}… · 4 unusable lines/,
    )
    expect(r.stdout).toContain(`${fixture('docs.jsonl')} line 6: "text" is a number (42), not a string`)
    const text = await mxd(['datasets', 'add', fixture('content-column.parquet'), '--text-field', 'content', '--json', '--store', store])
    expect(JSON.parse(text.stdout)).toMatchObject({ textField: 'content', documents: 2 })
  })

  it('fails with the file named and the fix: missing path, unsupported file, truncated parquet, bad usage', async () => {
    const store = tempStore()
    const missing = await mxd(['datasets', 'add', join(store, 'nope.jsonl'), '--store', store])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(
      /^mxd datasets: There is no file or folder at .*nope\.jsonl\. Datasets can be \.txt .*\.jsonl .*\.parquet/,
    )

    const truncated = join(store, 'cut.parquet')
    const whole = readFileSync(fixture('docs.parquet'))
    writeFileSync(truncated, whole.subarray(0, 100))
    const cut = await mxd(['datasets', 'add', truncated, '--json', '--store', store])
    expect(cut.code).toBe(1)
    expect(cut.stderr).toContain(`${truncated} is not a readable parquet file`)
    expect(cut.stderr).toContain('Download or export it again.')

    const unsupported = await mxd(['datasets', 'add', fixture('make_parquet.py'), '--store', store])
    expect(unsupported.stderr).toMatch(/make_parquet\.py is not a supported dataset file\. Datasets can be/)
    expect((await mxd(['datasets', 'add', '--store', store])).code).toBe(2)
    expect((await mxd(['datasets', 'add', fixture('docs.jsonl'), '--held-out', '2', '--store', store])).stderr).toMatch(
      /--held-out is a fraction/,
    )
    expect((await mxd(['datasets', 'remove', '--store', store])).code).toBe(2)
    expect(JSON.parse((await mxd(['datasets', '--json', '--store', store])).stdout)).toEqual([])
  })
})
