// The one rule by which jobs (the conversion and its evaluation) turn their `data` into a dataset
// row: a registered id as it is; a path's row only while its files are as registered and it was
// read by the text field asked for, else the path registered again. The evaluation used to take
// any row with the path, so it read a changed file with its stale hash and split, or a JSONL
// file by the field another run had chosen.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { registerDataset } from '../../src/data/registry.js'
import { resolveDataset } from '../../src/jobs/dataset.js'
import { JobError } from '../../src/shared/errors.js'
import { sha256File } from '../../src/store/files.js'
import { Store } from '../../src/store/store.js'

let dir: string
let store: Store
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mxd-jobs-dataset-'))
  store = new Store({ dir: join(dir, 'store') })
})
afterEach(() => {
  store.close()
  rmSync(dir, { recursive: true, force: true })
})

function writeCorpus(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

describe('resolveDataset', () => {
  it('reuses the row of an unchanged path without scanning it again', async () => {
    const path = writeCorpus('a.txt', 'one paragraph.\n\nanother one.')
    const first = await resolveDataset(store, path, undefined)
    const again = await resolveDataset(store, path, undefined)
    expect(again).toEqual(first) // updatedAt too: not re-registered
    expect(await resolveDataset(store, first.id, undefined)).toEqual(first)
  })

  it('registers a changed file again: the job reads it with its new hash, under the same id', async () => {
    const path = writeCorpus('a.txt', 'one paragraph.\n\nanother one.')
    const before = await resolveDataset(store, path, undefined)
    writeFileSync(path, 'a longer paragraph than before.\n\nand a second one.\n\nand a third.')
    const after = await resolveDataset(store, path, undefined)
    expect(after.id).toBe(before.id)
    expect(after.status).toBe('ok')
    expect(after.sha256).toBe(sha256File(path))
    expect(after.sha256).not.toBe(before.sha256)
    expect(after.previousSha256).toBe(before.sha256)
    expect(after.documents).toBe(3)
  })

  it('registers a path again when its row was read by another text field', async () => {
    const path = writeCorpus('docs.jsonl', ['{"text": "short", "body": "a much longer body"}', '{"text": "tiny", "body": "another body"}'].join('\n'))
    const byText = await registerDataset(store.db, path, { textField: 'text' })
    const byBody = await resolveDataset(store, path, 'body')
    expect(byBody.id).toBe(byText.id)
    expect(byBody.textField).toBe('body')
    expect(byBody.characters).toBe('a much longer body'.length + 'another body'.length)
    // No field asked for: whatever field the row was read by is the one meant.
    expect(await resolveDataset(store, path, undefined)).toEqual(byBody)
  })

  it('fails with what to do for an unknown id or a path that is not a dataset', async () => {
    await expect(resolveDataset(store, 7, undefined)).rejects.toThrow(new JobError('There is no dataset #7: list them with "mxd datasets list".'))
    const missing = resolveDataset(store, join(dir, 'nope.txt'), undefined)
    await expect(missing).rejects.toBeInstanceOf(JobError)
    await expect(missing).rejects.toThrow(/nope\.txt/)
  })
})
