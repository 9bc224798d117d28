// The store under pressure: several processes creating the same new store at one moment, a
// store folder under /proc, and a full database (SQLite's own SQLITE_FULL from a real write).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { Backend, toApiError } from '../../src/backend/backend.js'
import { UserPathError } from '../../src/fs/user-files.js'
import { ApiError } from '../../src/shared/api.js'
import { SCHEMA_VERSION } from '../../src/store/migrations.js'
import { DB_FILE } from '../../src/store/store.js'

const repoRoot = resolve(import.meta.dirname, '../..')
const tmp = (prefix: string): string => mkdtempSync(join(tmpdir(), prefix))

// Each child loads the store module, says "ready", then spins until the go file appears, so all
// of them call `new Store` within a millisecond or so of each other.
const CHILD = `
import { existsSync } from 'node:fs'
import { Store } from ${JSON.stringify(join(repoRoot, 'src/store/store.ts'))}
const [dir, go] = process.argv.slice(2)
process.stdout.write('ready\\n')
const deadline = Date.now() + 30_000
while (!existsSync(go)) if (Date.now() > deadline) throw new Error('no go signal')
try {
  const store = new Store({ dir })
  process.stdout.write('ok ' + store.schemaVersion + '\\n')
  store.close()
} catch (err) {
  process.stdout.write('failed ' + err.message + '\\n')
  process.exitCode = 1
}
`

describe('store migration is atomic across processes', () => {
  it('six processes opening one new store at the same moment all succeed, with the full schema', async () => {
    const work = tmp('mxd-race-')
    const script = join(work, 'open-store.mts')
    writeFileSync(script, CHILD)
    const dir = join(work, 'store')
    const go = join(work, 'go')
    const children = Array.from({ length: 6 }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, dir, go], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const lines: string[] = []
      const ready = new Promise<void>((res) => createInterface({ input: child.stdout }).on('line', (l) => (lines.push(l), l === 'ready' && res())))
      const exit = new Promise<number | null>((res) => child.once('exit', (code) => res(code)))
      return { ready, exit, lines, stderr: () => stderr }
    })
    await Promise.all(children.map((c) => c.ready))
    writeFileSync(go, '')
    const codes = await Promise.all(children.map((c) => c.exit))
    const results = children.map((c) => c.lines.find((l) => l !== 'ready') ?? c.stderr())
    expect(results).toEqual(Array(6).fill(`ok ${SCHEMA_VERSION}`))
    expect(codes).toEqual(Array(6).fill(0))
    const db = new Database(join(dir, DB_FILE), { readonly: true })
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION)
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    db.close()
  })
})

describe('store folder and disk errors', () => {
  it('refuses a store under /proc at once, without creating anything', () => {
    // In a child process with a time limit: the old recursive mkdir under /proc never returned,
    // and a synchronous hang in this worker could not be timed out.
    const script = join(tmp('mxd-procstore-'), 'open.mts')
    writeFileSync(
      script,
      `import { Store } from ${JSON.stringify(join(repoRoot, 'src/store/store.ts'))}\n` +
        `try { new Store({ dir: '/proc/self/mxd-store' }); console.log('opened') } catch (err) { console.log(err.message) }\n`,
    )
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: repoRoot, encoding: 'utf8', timeout: 20_000 })
    expect(r.signal, 'the store open did not return').toBeNull()
    expect(r.stdout).toMatch(/\/proc\/self\/mxd-store.*inside \/proc.*choose a folder of your own/)
    expect(existsSync('/proc/self/mxd-store')).toBe(false)
  })

  it('a full database gives a message naming the store file and the fix, and loses nothing', async () => {
    const dir = tmp('mxd-full-')
    const backend = await Backend.create({ storeDir: dir })
    try {
      const kept = backend.ctx.store.createRun('bench-backend', { sizes: [8], repeats: 1 }, 'succeeded')
      // SQLite's own limit on the file's size: once the pages it has are filled, a write that
      // needs one more fails with SQLITE_FULL exactly as on a full disk.
      const db = backend.ctx.store.db
      db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`)
      expect(() => {
        for (let i = 0; i < 100_000; i++) backend.ctx.store.createRun('bench-backend', { sizes: [8], repeats: 1 }, 'succeeded')
      }).toThrow(/full/)
      const before = backend.ctx.store.listRuns({ limit: 100_000 }).length
      const reply = await backend.dispatch('bench.start', { sizes: [8], repeats: 1 })
      expect(reply.ok).toBe(false)
      if (!reply.ok) {
        expect(reply.error.message).toContain(join(dir, DB_FILE))
        expect(reply.error.message).toMatch(/is full or failing.*free some space/)
      }
      expect(backend.ctx.store.getRun(kept.id)?.status).toBe('succeeded')
      expect(backend.ctx.store.listRuns({ limit: 100_000 }).length).toBeGreaterThanOrEqual(before)
    } finally {
      await backend.close()
    }
  })
})

describe('one mapping from a thrown error to the API error', () => {
  it("a raw errno error becomes bad_request naming the file and the fix; a UserPathError keeps its words; others stay 'internal'", () => {
    const dir = tmp('mxd-errno-')
    let enoent: unknown
    try {
      readFileSync(join(dir, 'missing.txt'))
    } catch (err) {
      enoent = err
    }
    expect(toApiError(enoent, '/s/mxd.sqlite').toBody()).toEqual({
      code: 'bad_request',
      message: `${join(dir, 'missing.txt')} does not exist: check the path.`,
    })
    expect(toApiError(new UserPathError('x is odd: fix it.', 'x'), '/s').toBody()).toEqual({ code: 'bad_request', message: 'x is odd: fix it.' })
    expect(toApiError(new Error('boom'), '/s').toBody()).toEqual({ code: 'internal', message: 'boom' })
  })

  it('the CLI path (Backend.call) throws the same mapped error as dispatch answers', async () => {
    const backend = await Backend.create({ storeDir: tmp('mxd-call-') })
    try {
      const dir = tmp('mxd-loop-')
      symlinkSync(join(dir, 'a.txt'), join(dir, 'a.txt'))
      const viaDispatch = await backend.dispatch('datasets.add', { path: join(dir, 'a.txt') })
      const viaCall = await backend.call('datasets.add', { path: join(dir, 'a.txt') }).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(viaCall).toBeInstanceOf(ApiError)
      expect(viaDispatch).toEqual({ ok: false, error: (viaCall as ApiError).toBody() })
      expect((viaCall as ApiError).message).toMatch(/loop of symbolic links/)
    } finally {
      await backend.close()
    }
  })
})
