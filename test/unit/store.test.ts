import Database from 'better-sqlite3'
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { sha256, writeFileAtomic } from '../../src/store/files.js'
import { migrations, SCHEMA_VERSION } from '../../src/store/migrations.js'
import { DB_FILE, defaultStoreDir, migrate, Store } from '../../src/store/store.js'

const tmp = (): string => mkdtempSync(join(tmpdir(), 'mxd-store-'))

function tableNames(db: Database.Database): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name)
}

describe('store', () => {
  it('creates every table from an empty file with WAL and foreign keys on', () => {
    const store = new Store({ dir: tmp() })
    expect(store.schemaVersion).toBe(SCHEMA_VERSION)
    expect(tableNames(store.db)).toEqual(
      expect.arrayContaining(['models', 'datasets', 'runs', 'metrics', 'checkpoints', 'run_log', 'settings']),
    )
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1)
    expect(store.db.pragma('busy_timeout', { simple: true })).toBe(5000)
    store.close()
  })

  it('migrates from every older version to the newest, keeping data', () => {
    for (let from = 0; from < SCHEMA_VERSION; from++) {
      const dir = tmp()
      const db = new Database(join(dir, DB_FILE))
      expect(migrate(db, from)).toBe(from)
      if (from >= 1) db.prepare("INSERT INTO runs (kind, status, config, created_at) VALUES ('bench-backend', 'succeeded', '{}', 'x')").run()
      db.close()
      const store = new Store({ dir })
      expect(store.schemaVersion).toBe(SCHEMA_VERSION)
      if (from >= 1) expect(store.listRuns()).toHaveLength(1)
      store.close()
    }
    expect(migrations.length).toBe(SCHEMA_VERSION)
  })

  it('refuses a store made by a newer app, naming the fix', () => {
    const dir = tmp()
    const db = new Database(join(dir, DB_FILE))
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
    db.close()
    expect(() => new Store({ dir })).toThrow(/newer than this app's.*--store/)
  })

  it('rolls a failing migration back whole', () => {
    const dir = tmp()
    const db = new Database(join(dir, DB_FILE))
    db.exec('CREATE TABLE models (id INTEGER)') // makes migration 0→1 fail half-way
    expect(() => migrate(db)).toThrow()
    expect(db.pragma('user_version', { simple: true })).toBe(0)
    expect(tableNames(db)).toEqual(['models'])
    db.close()
  })

  it('records runs, metrics, checkpoints and log lines', () => {
    const store = new Store({ dir: tmp() })
    const run = store.createRun('bench-backend', { sizes: [8], repeats: 1 })
    expect(run.status).toBe('queued')
    store.setRunStatus(run.id, 'running')
    store.addMetrics(run.id, 8, { gflops: 1.5 })
    store.addMetrics(run.id, 8, { gflops: 2.5 }) // same step: replaced, not duplicated
    store.addCheckpoint(run.id, 8, '/x', 'abc')
    store.log(run.id, 'info', 'hello')
    const done = store.setRunStatus(run.id, 'succeeded')
    expect(done.startedAt).not.toBeNull()
    expect(done.finishedAt).not.toBeNull()
    expect(store.getMetrics(run.id)).toEqual([{ step: 8, name: 'gflops', value: 2.5 }])
    expect(store.latestCheckpoint(run.id)?.sha256).toBe('abc')
    expect(store.getLog(run.id).map((l) => l.message)).toEqual(['hello'])
    store.close()
  })

  it('marks runs of dead processes interrupted, and leaves live owners alone', () => {
    const store = new Store({ dir: tmp() })
    const mine = store.createRun('bench-backend', {})
    const other = store.createRun('bench-backend', {})
    store.setRunStatus(mine.id, 'running')
    store.setRunStatus(other.id, 'running')
    store.claimRun(mine.id, 2 ** 22 + 12345) // no such pid
    store.claimRun(other.id, process.ppid) // alive
    const marked = store.markInterrupted()
    expect(marked.map((r) => r.id)).toEqual([mine.id])
    expect(store.getRun(mine.id)?.status).toBe('interrupted')
    expect(store.getRun(other.id)?.status).toBe('running')
    store.close()
  })

  it('uses $MXD_HOME, else ~/.mxd-studio', () => {
    expect(defaultStoreDir({ MXD_HOME: '/data/mxd' })).toBe('/data/mxd')
    expect(defaultStoreDir({})).toMatch(/\.mxd-studio$/)
  })
})

describe('atomic files', () => {
  it('writes the whole content under the final name and leaves no temp file', () => {
    const dir = tmp()
    const path = join(dir, 'a.bin')
    const parts = [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])]
    const hash = writeFileAtomic(path, parts)
    expect([...readFileSync(path)]).toEqual([1, 2, 3, 4, 5])
    expect(hash).toBe(sha256(new Uint8Array([1, 2, 3, 4, 5])))
    expect(readdirSync(dir)).toEqual(['a.bin'])
  })

  it('keeps the old file when a write fails, with a message naming the file', () => {
    const dir = tmp()
    const path = join(dir, 'a.bin')
    writeFileAtomic(path, new Uint8Array([9]))
    // Writing into a folder that does not exist fails before the rename.
    expect(() => writeFileAtomic(join(dir, 'missing', 'b.bin'), new Uint8Array([1]))).toThrow(/missing\/b\.bin/)
    expect([...readFileSync(path)]).toEqual([9])
    expect(existsSync(join(dir, 'missing'))).toBe(false)
  })

  it('records a checkpoint and the metrics of the work it completes together, or neither', () => {
    const store = new Store({ dir: tmp() })
    const run = store.createRun('bench-backend', { sizes: [8] }, 'running')
    store.addCheckpoint(run.id, 8, '/x/step-8', 'abc', { gflops: 1.5 })
    expect(store.getMetrics(run.id)).toEqual([{ step: 8, name: 'gflops', value: 1.5 }])
    // The checkpoint row cannot be written (as on a crash or a full disk at that moment): the
    // metrics must not be left behind without it, or a resume measures the step again.
    store.db.exec("CREATE TRIGGER no_checkpoints BEFORE INSERT ON checkpoints BEGIN SELECT RAISE(ABORT, 'no room'); END")
    expect(() => store.addCheckpoint(run.id, 16, '/x/step-16', 'def', { gflops: 2.5 })).toThrow(/no room/)
    expect(store.getMetrics(run.id)).toEqual([{ step: 8, name: 'gflops', value: 1.5 }])
    expect(store.latestCheckpoint(run.id)?.step).toBe(8)
    store.close()
  })
})
