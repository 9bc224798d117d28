// Export never deletes what it did not write: `force` replaces only a previous export's cfg.json
// and weights; a folder with other files, the store folder (or anything in it), a folder holding
// a store database and /proc, /sys, /dev are refused before any write, with the files named.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../src/backend/backend.js'
import { LAYER_CONFIG_FILE, LAYER_WEIGHTS_FILE } from '../../src/convert/layer-file.js'
import { initBackend } from '../../src/engine/backend.js'
import { DB_FILE } from '../../src/store/store.js'
import { tinyModelWithByteTokenizer } from '../helpers/byte-tokenizer.js'
import { writeMxdLayerFolder } from '../helpers/mxd-layer-folder.js'

let backend: Backend
let runId: number
const tmp = (prefix: string): string => mkdtempSync(join(tmpdir(), prefix))

beforeAll(async () => {
  await initBackend()
  backend = await Backend.create({ storeDir: tmp('mxd-hexport-') })
  const run = backend.ctx.store.createRun('convert', { model: 'tiny', layer: 1 }, 'succeeded')
  writeMxdLayerFolder(join(backend.ctx.store.runDir(run.id), 'layer'), {
    modelDir: tinyModelWithByteTokenizer(),
    block: 1,
    dModel: 32,
    hidden: 64,
    experts: 8,
    k: 2,
  })
  runId = run.id
})
afterAll(async () => backend.close())

async function refused(dir: string, force: boolean): Promise<string> {
  const reply = await backend.dispatch('convert.export', { runId, dir, force })
  expect(reply.ok).toBe(false)
  if (reply.ok) return ''
  expect(reply.error.code).toBe('bad_request')
  return reply.error.message
}

describe('export --force replaces only a previous export', () => {
  it("refuses a folder holding a user's notes.txt, names it, and keeps it", async () => {
    const out = tmp('mxd-notes-')
    writeFileSync(join(out, 'notes.txt'), 'keep me')
    writeFileSync(join(out, LAYER_CONFIG_FILE), '{"mine": true}')
    const message = await refused(out, true)
    expect(message).toContain(out)
    expect(message).toMatch(/"notes\.txt"/)
    expect(message).toMatch(/never deletes other files/)
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('keep me')
    expect(readFileSync(join(out, LAYER_CONFIG_FILE), 'utf8')).toBe('{"mine": true}')
  })

  it('refuses the store folder and anything in it; the database stays intact', async () => {
    const store = backend.ctx.store.dir
    const before = backend.ctx.store.listRuns({ limit: 1000 }).length
    expect(await refused(store, true)).toMatch(/the store folder/)
    expect(await refused(join(store, 'runs'), true)).toMatch(/inside the store folder/)
    expect(await refused(join(store, 'exports', 'new'), true)).toMatch(/inside the store folder/)
    expect(backend.ctx.store.listRuns({ limit: 1000 })).toHaveLength(before)
    expect(existsSync(join(store, DB_FILE))).toBe(true)
    expect(existsSync(join(store, 'exports'))).toBe(false)
    const db = new Database(join(store, DB_FILE), { readonly: true })
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    db.close()
  })

  it('refuses any folder holding a store database, naming the files', async () => {
    const other = tmp('mxd-otherstore-')
    for (const f of [DB_FILE, `${DB_FILE}-wal`]) writeFileSync(join(other, f), 'data')
    const message = await refused(other, true)
    expect(message).toMatch(/store database \("mxd\.sqlite", "mxd\.sqlite-wal"\)/)
    expect(readdirSync(other).sort()).toEqual([DB_FILE, `${DB_FILE}-wal`])
  })

  it('replaces a previous export, and refuses to without --force', async () => {
    const out = join(tmp('mxd-prev-'), 'layer')
    const first = await backend.call('convert.export', { runId, dir: out })
    expect(first.files.map((f) => f.slice(out.length + 1)).sort()).toEqual([LAYER_CONFIG_FILE, LAYER_WEIGHTS_FILE])
    writeFileSync(join(out, LAYER_CONFIG_FILE), 'stale')
    expect(await refused(out, false)).toMatch(/previous export.*--force/)
    await backend.call('convert.export', { runId, dir: out, force: true })
    expect(readdirSync(out).sort()).toEqual([LAYER_CONFIG_FILE, LAYER_WEIGHTS_FILE])
    expect(JSON.parse(readFileSync(join(out, LAYER_CONFIG_FILE), 'utf8'))).toMatchObject({ architecture: 'mxd' })
    expect(readdirSync(join(out, '..')).filter((f) => f.includes('.partial'))).toEqual([])
  })

  it('refuses /proc, /sys and /dev at once', async () => {
    for (const dir of ['/proc/self/mxd-export/deep', '/sys/mxd-export', '/dev/shm/mxd-export']) {
      const t0 = Date.now()
      expect(await refused(dir, true)).toMatch(/inside \/(proc|sys|dev).*choose a folder of your own/)
      expect(Date.now() - t0).toBeLessThan(2000)
    }
    expect(existsSync('/dev/shm/mxd-export')).toBe(false)
  })

  it('a folder where a file is: refused with the path, nothing written', async () => {
    const parent = tmp('mxd-file-')
    const file = join(parent, 'x')
    writeFileSync(file, 'x')
    expect(await refused(file, true)).toMatch(/exists and is a file/)
    mkdirSync(join(parent, 'sub'))
    expect(readdirSync(parent).sort()).toEqual(['sub', 'x'])
  })
})

describe('import refuses what would block the server', () => {
  it('a FIFO named cfg.json is refused at once, and /proc is refused', async () => {
    const dir = tmp('mxd-fifo-layer-')
    execFileSync('mkfifo', [join(dir, LAYER_CONFIG_FILE)])
    const reply = await backend.dispatch('convert.import', { dir })
    expect(reply).toEqual({
      ok: false,
      error: { code: 'bad_request', message: `${join(dir, LAYER_CONFIG_FILE)} is a named pipe (FIFO), not a regular file: point to the file itself.` },
    })
    const proc = await backend.dispatch('convert.import', { dir: '/proc/self' })
    expect(proc.ok).toBe(false)
    if (!proc.ok) expect(proc.error.message).toMatch(/inside \/proc/)
  })
})
