import { appendFileSync, copyFileSync, cpSync, rmSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { sha256File } from '../../../src/store/files.js'
import { ApiError, Dataset } from '../../../src/shared/api.js'
import { datasetOptions } from '../../../src/data/registry.js'
import { splitOf } from '../../../src/data/split.js'
import { fixture, readAll, tempDir } from './helpers.js'

let backend: Backend
beforeAll(async () => {
  backend = await Backend.create({ storeDir: tempDir(), backend: 'cpu' })
})
afterAll(async () => {
  await backend.close()
})

const add = (input: { path: string; textField?: string; heldOutFraction?: number }): Promise<Dataset> => backend.call('datasets.add', input)

describe('datasets.add / datasets.list', () => {
  it('records hash, counts, format and the malformed-line report, in the contract shape', async () => {
    const d = await add({ path: fixture('docs.jsonl') })
    expect(Dataset.parse(d)).toEqual(d)
    expect(d).toMatchObject({
      path: fixture('docs.jsonl'),
      name: 'docs.jsonl',
      sha256: sha256File(fixture('docs.jsonl')),
      format: 'jsonl',
      kind: 'text',
      textField: null,
      files: 1,
      documents: 3,
      // Unicode characters, as Python's len() counts them: the emoji is one, not two UTF-16 units.
      characters: 19 + 31 + 36,
      tokens: null,
      heldOutFraction: 0.05,
      previousSha256: null,
      status: 'ok',
    })
    expect(d.malformed.count).toBe(4)
    expect(d.malformed.examples.map((e) => e.line)).toEqual([4, 5, 6, 7])
  })

  it('registering the same path again updates the row instead of adding one', async () => {
    const dir = tempDir()
    const file = join(dir, 'data.jsonl')
    copyFileSync(fixture('docs.jsonl'), file)
    const first = await add({ path: file })
    const again = await add({ path: file, heldOutFraction: 0.5 })
    expect(again.id).toBe(first.id)
    expect(again.addedAt).toBe(first.addedAt)
    expect(again.heldOutFraction).toBe(0.5)
    expect(again.previousSha256).toBeNull()
    expect((await backend.call('datasets.list', {})).filter((d) => d.path === file)).toHaveLength(1)
  })

  it('notices a changed file: listing flags it, re-registering records the old hash', async () => {
    const dir = tempDir()
    const file = join(dir, 'data.jsonl')
    copyFileSync(fixture('docs.jsonl'), file)
    const first = await add({ path: file })
    appendFileSync(file, '{"text": "A new document."}\n')
    utimesSync(file, new Date(), new Date(Date.now() + 5000))
    const listed = (await backend.call('datasets.list', {})).find((d) => d.id === first.id)!
    expect(listed.status).toBe('changed')
    const updated = await add({ path: file })
    expect(updated).toMatchObject({ id: first.id, documents: 4, previousSha256: first.sha256, status: 'ok' })
    expect(updated.sha256).not.toBe(first.sha256)
    rmSync(file)
    expect((await backend.call('datasets.list', {})).find((d) => d.id === first.id)!.status).toBe('missing')
  })

  it('registers a folder, parquet with another column, and pre-tokenized parquet', async () => {
    const folder = await add({ path: fixture('folder') })
    expect(folder).toMatchObject({ format: 'jsonl', files: 2, documents: 3, name: 'folder' })
    expect(folder.sha256).toMatch(/^[0-9a-f]{64}$/)
    const content = await add({ path: fixture('content-column.parquet'), textField: 'content' })
    expect(content).toMatchObject({ format: 'parquet', kind: 'text', textField: 'content', documents: 2 })
    const tokens = await add({ path: fixture('tokens.parquet') })
    expect(tokens).toMatchObject({ format: 'parquet', kind: 'tokens', documents: 4, characters: 0, tokens: 3 + 2 + 4 + 0 })
    expect(tokens.malformed.examples.map((e) => [e.unit, e.line])).toEqual([
      ['row', 3],
      ['row', 5],
    ])
  })

  it('a folder gets a new hash when a file inside changes', async () => {
    const dir = join(tempDir(), 'corpus')
    cpSync(fixture('folder'), dir, { recursive: true })
    const before = await add({ path: dir })
    appendFileSync(join(dir, 'sub/b.jsonl'), '{"text": "More."}\n')
    expect((await add({ path: dir })).previousSha256).toBe(before.sha256)
  })

  it('refuses bad input with clear errors and stores nothing', async () => {
    const count = (await backend.call('datasets.list', {})).length
    const missing = add({ path: join(tempDir(), 'nope.parquet') })
    await expect(missing).rejects.toThrow(ApiError)
    await expect(missing).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringMatching(/There is no file or folder at .*Datasets can be \.txt/),
    })
    await expect(add({ path: fixture('make_parquet.py') })).rejects.toMatchObject({
      code: 'bad_request',
      message: expect.stringMatching(/not a supported dataset file/),
    })
    await expect(backend.call('datasets.add', { path: fixture('docs.jsonl'), bogus: 1 })).rejects.toThrow(
      /Invalid request to datasets\.add/,
    )
    await expect(add({ path: fixture('docs.jsonl'), heldOutFraction: 1 })).rejects.toThrow(/heldOutFraction/)
    await expect(backend.call('datasets.list', { all: true })).rejects.toThrow(/Invalid request to datasets\.list/)
    expect(await backend.call('datasets.list', {})).toHaveLength(count)
  })
})

describe('reading a registered dataset back', () => {
  it('datasetOptions reads and splits it as registered: held-out count and documents match the record', async () => {
    const d = await add({ path: fixture('content-column.parquet'), textField: 'content', heldOutFraction: 0.5 })
    const opts = datasetOptions(d)
    expect(opts).toEqual({ textField: 'content', heldOutFraction: 0.5 })
    const docs = await readAll(d.path, opts)
    expect(docs).toHaveLength(d.documents)
    expect(docs.filter((doc) => splitOf(doc, opts) === 'heldout')).toHaveLength(d.heldOutDocuments)
  })
})
