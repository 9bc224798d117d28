// `mxd export --force` as a user types it: a folder with the user's files, the store folder and
// /proc are refused with the reason, and nothing is deleted.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../src/backend/backend.js'
import { initBackend } from '../../src/engine/backend.js'
import { DB_FILE } from '../../src/store/store.js'
import { tinyModelWithByteTokenizer } from '../helpers/byte-tokenizer.js'
import { mxd } from '../helpers/mxd-cli.js'
import { writeMxdLayerFolder } from '../helpers/mxd-layer-folder.js'
import { tempStore } from '../helpers/web-process.js'

let store: string
let runId: number

beforeAll(async () => {
  await initBackend()
  store = tempStore('mxd-export-cli-')
  const backend = await Backend.create({ storeDir: store })
  const run = backend.ctx.store.createRun('convert', { model: 'tiny', layer: 1 }, 'succeeded')
  writeMxdLayerFolder(join(backend.ctx.store.runDir(run.id), 'layer'), { modelDir: tinyModelWithByteTokenizer(), block: 1, dModel: 32, hidden: 64, experts: 8, k: 2 })
  runId = run.id
  await backend.close()
})

describe('mxd export --force', () => {
  it("refuses a folder with the user's notes.txt and keeps it; replaces a previous export", async () => {
    const out = mkdtempSync(join(tmpdir(), 'mxd-cli-notes-'))
    writeFileSync(join(out, 'notes.txt'), 'mine')
    const r = await mxd(['export', '--run', String(runId), '--out', out, '--force', '--store', store])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/"notes\.txt".*never deletes other files/)
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine')

    const fresh = join(out, 'layer')
    expect((await mxd(['export', '--run', String(runId), '--out', fresh, '--store', store])).code).toBe(0)
    const again = await mxd(['export', '--run', String(runId), '--out', fresh, '--force', '--store', store])
    expect(again.code, again.stderr).toBe(0)
    expect(readdirSync(fresh).sort()).toEqual(['cfg.json', 'sae_weights.safetensors'])
  })

  it('refuses the store folder, leaving the database as it was', async () => {
    const before = readdirSync(store).sort()
    const r = await mxd(['export', '--run', String(runId), '--out', store, '--force', '--store', store])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/the store folder/)
    expect(readdirSync(store).sort()).toEqual(before)
    const runs = await mxd(['runs', '--store', store, '--json'])
    expect(JSON.parse(runs.stdout)).toHaveLength(1)
    expect(existsSync(join(store, DB_FILE))).toBe(true)
  })

  it('refuses /proc at once', async () => {
    const r = await mxd(['export', '--run', String(runId), '--out', '/proc/self/x/y', '--force', '--store', store])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/inside \/proc/)
  })
})
