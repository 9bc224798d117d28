// The store: one SQLite file (WAL, foreign keys, busy timeout) plus a folder of files for
// tensors and checkpoints. Every process and worker thread opens its own connection.
import Database from 'better-sqlite3'
import { lstatSync, mkdirSync, rmSync, unlinkSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Checkpoint, LogLine, Metric, Run, RunKind, RunStatus } from '../shared/api.js'
import { describeFsError, refuseSystemPathSync, UserPathError } from '../fs/user-files.js'
import { migrations, SCHEMA_VERSION } from './migrations.js'

export const DB_FILE = 'mxd.sqlite'

/** `--store DIR`, else $MXD_HOME, else ~/.mxd-studio (Electron passes its userData folder). */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.MXD_HOME && env.MXD_HOME.length > 0 ? env.MXD_HOME : join(homedir(), '.mxd-studio'))
}

export interface OpenStoreOptions {
  dir: string
  /** Path to a better_sqlite3.node built for this runtime (Electron keeps its own build). */
  nativeBinding?: string
  readonly?: boolean
}

interface RunRow {
  id: number
  kind: string
  status: string
  config: string
  created_at: string
  started_at: string | null
  finished_at: string | null
  error: string | null
}

export type ModelSource = 'added' | 'hf-cache' | 'bundled'

export interface ModelRow {
  id: number
  path: string
  name: string
  architecture: string
  source: ModelSource
  info: string
  added_at: string
}

const now = (): string => new Date().toISOString()

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function toRun(row: RunRow): Run {
  return {
    id: row.id,
    kind: row.kind as RunKind,
    status: row.status as RunStatus,
    config: JSON.parse(row.config) as Record<string, unknown>,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
  }
}

function refuseNewer(db: Database.Database, version: number): void {
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `The store ${db.name} has schema version ${version}, newer than this app's ${SCHEMA_VERSION}: update MxD Studio, or open another store with --store DIR.`,
    )
  }
}

/**
 * Brings a database to the newest schema in one transaction with its version bump, so a crash
 * mid-migration leaves the file at the old version. Several processes may open the same new
 * store at once (the app, a CLI command, workers): the version read before taking the lock may
 * be stale, so the transaction takes the write lock first (BEGIN IMMEDIATE, which waits out the
 * busy timeout behind another migrator) and reads the version again under it.
 */
export function migrate(db: Database.Database, upTo: number = SCHEMA_VERSION): number {
  const current = (): number => db.pragma('user_version', { simple: true }) as number
  let version = current()
  refuseNewer(db, version)
  if (version >= upTo) return version
  db.transaction(() => {
    version = current()
    refuseNewer(db, version)
    while (version < upTo) {
      db.exec(migrations[version]!)
      version++
      db.pragma(`user_version = ${version}`)
    }
  }).immediate()
  return version
}

/** How long opening a store waits out other processes that hold it while they open it too. */
const OPEN_BUSY_MS = 60_000

/**
 * Several processes may open one new store at the same moment (the app, a CLI command, job
 * workers). Switching it to WAL and migrating it each need the write lock; the busy timeout
 * waits for it, but a process starved of CPU on a loaded machine can hold it past that timeout,
 * and a journal-mode switch can report SQLITE_BUSY without waiting at all. So opening retries on
 * SQLITE_BUSY with a growing pause, up to OPEN_BUSY_MS, before giving up with SQLite's message.
 */
function whileBusy<T>(step: () => T): T {
  const deadline = Date.now() + OPEN_BUSY_MS
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (let delay = 5; ; delay = Math.min(2 * delay, 250)) {
    try {
      return step()
    } catch (err) {
      const code = (err as { code?: unknown }).code
      if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY') || Date.now() > deadline) throw err
      Atomics.wait(pause, 0, 0, delay)
    }
  }
}

/**
 * A SQLite failure of a write, in words: a full disk (SQLITE_FULL) or an I/O error (SQLITE_IOERR*,
 * "disk I/O error", which is also what a full disk gives in WAL mode) names the store's file and
 * the fix. Anything else is returned as it is.
 */
export function describeStoreError(err: unknown, dbPath: string): unknown {
  const code = (err as { code?: unknown })?.code
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return err
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR')) {
    return new UserPathError(
      `The disk holding the store ${dbPath} is full or failing (${(err as Error).message}): free some space (or choose another store with --store DIR) and try again; what was stored before is kept.`,
      dbPath,
      code === 'SQLITE_FULL' ? 'ENOSPC' : 'EIO',
    )
  }
  if (code === 'SQLITE_READONLY' || code.startsWith('SQLITE_READONLY_')) {
    return new UserPathError(`The store ${dbPath} cannot be written (${(err as Error).message}): check its permissions and free space.`, dbPath, 'EROFS')
  }
  return err
}

export class Store {
  readonly db: Database.Database
  readonly dir: string
  readonly path: string

  constructor(opts: OpenStoreOptions) {
    this.dir = resolve(opts.dir)
    // Before mkdir: a recursive mkdir under /proc never returns.
    refuseSystemPathSync(this.dir, 'The store folder')
    try {
      mkdirSync(this.dir, { recursive: true })
    } catch (err) {
      throw describeFsError(err, this.dir, 'The store folder')
    }
    this.path = join(this.dir, DB_FILE)
    try {
      this.db = new Database(this.path, {
        readonly: opts.readonly ?? false,
        ...(opts.nativeBinding ? { nativeBinding: opts.nativeBinding } : {}),
      })
    } catch (err) {
      throw new Error(`Could not open the store database ${this.path}: ${(err as Error).message}`)
    }
    this.db.pragma('busy_timeout = 5000')
    this.db.pragma('foreign_keys = ON')
    if (!opts.readonly) {
      try {
        whileBusy(() => this.db.pragma('journal_mode = WAL'))
        this.db.pragma('synchronous = NORMAL')
        whileBusy(() => migrate(this.db))
      } catch (err) {
        // Opening writes (the WAL file, a migration): a full disk must be named as one here too.
        this.db.close()
        throw describeStoreError(err, this.path)
      }
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number
  }

  close(): void {
    this.db.close()
  }

  /** A folder for one run's files (checkpoints, exported layers). */
  runDir(runId: number): string {
    const dir = join(this.dir, 'runs', String(runId))
    mkdirSync(dir, { recursive: true })
    return dir
  }

  // ---- runs ---------------------------------------------------------------------------------

  createRun(kind: RunKind, config: Record<string, unknown>, status: RunStatus = 'queued'): Run {
    const info = this.db
      .prepare('INSERT INTO runs (kind, status, config, created_at) VALUES (?, ?, ?, ?)')
      .run(kind, status, JSON.stringify(config), now())
    return this.getRun(Number(info.lastInsertRowid))!
  }

  getRun(id: number): Run | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined
    return row ? toRun(row) : undefined
  }

  listRuns(opts: { limit?: number; kind?: RunKind; status?: RunStatus } = {}): Run[] {
    const where: string[] = []
    const args: unknown[] = []
    if (opts.kind) {
      where.push('kind = ?')
      args.push(opts.kind)
    }
    if (opts.status) {
      where.push('status = ?')
      args.push(opts.status)
    }
    const sql = `SELECT * FROM runs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`
    return (this.db.prepare(sql).all(...args, opts.limit ?? 500) as RunRow[]).map(toRun)
  }

  /** Moves a run to `status`, stamping start/finish times; returns the updated run. */
  setRunStatus(id: number, status: RunStatus, error: string | null = null): Run {
    const t = now()
    const startedAt = status === 'running' ? t : null
    const finished = ['succeeded', 'failed', 'cancelled', 'interrupted'].includes(status) ? t : null
    this.db
      .prepare(
        `UPDATE runs SET status = ?, error = ?,
           started_at = COALESCE(?, started_at),
           finished_at = CASE WHEN ? IS NULL THEN NULL ELSE ? END
         WHERE id = ?`,
      )
      .run(status, error, startedAt, finished, finished, id)
    const run = this.getRun(id)
    if (!run) throw new Error(`run ${id} does not exist`)
    return run
  }

  /** Records which process runs a job, so another process on the same store leaves it alone. */
  /** Replaces a run's config (a resume at a new learning rate: the worker runs what is stored). */
  setRunConfig(id: number, config: Record<string, unknown>): void {
    this.db.prepare('UPDATE runs SET config = ? WHERE id = ?').run(JSON.stringify(config), id)
  }

  claimRun(id: number, pid: number = process.pid): void {
    this.db.prepare('UPDATE runs SET owner_pid = ? WHERE id = ?').run(pid, id)
  }

  /**
   * At start-up: runs left "running" by a process that no longer exists become "interrupted"
   * (resumable). Runs owned by a live process (another window, a CLI job) are left alone.
   */
  markInterrupted(): Run[] {
    const rows = this.db.prepare("SELECT id, owner_pid FROM runs WHERE status = 'running'").all() as {
      id: number
      owner_pid: number | null
    }[]
    const stale = rows.filter((r) => r.owner_pid === null || r.owner_pid === process.pid || !processAlive(r.owner_pid))
    for (const run of stale) {
      this.setRunStatus(run.id, 'interrupted', 'The app stopped while this run was going; resume it to continue from its last checkpoint.')
      this.log(run.id, 'warn', 'Marked interrupted at start-up: the process running it had stopped.')
    }
    return stale.map((r) => this.getRun(r.id)!)
  }

  // ---- models ------------------------------------------------------------------------------

  /** Registers a model folder, or refreshes its facts when the path is known already. */
  upsertModel(m: { path: string; name: string; architecture: string; source: ModelSource; info: unknown }): ModelRow {
    this.db
      .prepare(
        `INSERT INTO models (path, name, architecture, source, info, added_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(path) DO UPDATE SET name = excluded.name, architecture = excluded.architecture, info = excluded.info`,
      )
      .run(m.path, m.name, m.architecture, m.source, JSON.stringify(m.info), now())
    return this.db.prepare('SELECT * FROM models WHERE path = ?').get(m.path) as ModelRow
  }

  listModels(): ModelRow[] {
    return this.db.prepare('SELECT * FROM models ORDER BY source, name, id').all() as ModelRow[]
  }

  getModel(id: number): ModelRow | undefined {
    return this.db.prepare('SELECT * FROM models WHERE id = ?').get(id) as ModelRow | undefined
  }

  removeModel(id: number): boolean {
    return this.db.prepare('DELETE FROM models WHERE id = ?').run(id).changes > 0
  }

  // ---- metrics, checkpoints, log ----------------------------------------------------------

  addMetrics(runId: number, step: number, values: Record<string, number>): void {
    const stmt = this.db.prepare('INSERT OR REPLACE INTO metrics (run_id, step, name, value) VALUES (?, ?, ?, ?)')
    this.db.transaction(() => {
      for (const [name, value] of Object.entries(values)) stmt.run(runId, step, name, value)
    })()
  }

  /** Drops a run's metrics (a restart from step 0 re-reports every step); returns how many. */
  clearMetrics(runId: number): number {
    return this.db.prepare('DELETE FROM metrics WHERE run_id = ?').run(runId).changes
  }

  getMetrics(runId: number): Metric[] {
    return this.db
      .prepare('SELECT step, name, value FROM metrics WHERE run_id = ? ORDER BY name, step')
      .all(runId) as Metric[]
  }

  /**
   * Records a checkpoint file, and with it the metrics of the work it completes, in one
   * transaction: a crash then never leaves a step's metrics without the checkpoint that says the
   * step is done (a resume would measure it again and overwrite them).
   */
  addCheckpoint(runId: number, step: number, path: string, sha256: string, metrics?: Record<string, number>): void {
    this.db.transaction(() => {
      if (metrics) this.addMetrics(runId, step, metrics)
      this.db
        .prepare('INSERT INTO checkpoints (run_id, step, path, sha256, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(runId, step, path, sha256, now())
    })()
  }

  getCheckpoints(runId: number): Checkpoint[] {
    return this.db
      .prepare('SELECT step, path, sha256, created_at AS createdAt FROM checkpoints WHERE run_id = ? ORDER BY step, id')
      .all(runId) as Checkpoint[]
  }

  latestCheckpoint(runId: number): Checkpoint | undefined {
    return this.getCheckpoints(runId).at(-1)
  }

  log(runId: number, level: LogLine['level'], message: string): void {
    this.db.prepare('INSERT INTO run_log (run_id, at, level, message) VALUES (?, ?, ?, ?)').run(runId, now(), level, message)
  }

  getLog(runId: number): LogLine[] {
    return this.db.prepare('SELECT at, level, message FROM run_log WHERE run_id = ? ORDER BY id').all(runId) as LogLine[]
  }

  // ---- run summaries and deletion (runs.summarize, runs.delete) -----------------------------

  /**
   * The runs of listRuns with their newest held-out NMSE and loss recovered (both of the step
   * that has the newest eval.nmse) and the last training NMSE, in one query.
   */
  runSummaryRows(opts: { limit?: number; kind?: RunKind } = {}): RunSummaryRow[] {
    const where = opts.kind ? 'WHERE r.kind = ?' : ''
    const args: unknown[] = opts.kind ? [opts.kind] : []
    args.push(opts.limit ?? 500)
    return this.db
      .prepare(
        `SELECT r.*,
           e.value AS eval_nmse,
           (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.name = 'eval.loss_recovered' AND m.step = e.step) AS eval_loss_recovered,
           (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.name = 'nmse' ORDER BY m.step DESC LIMIT 1) AS train_nmse
         FROM runs r
         LEFT JOIN metrics e ON e.run_id = r.id AND e.name = 'eval.nmse'
           AND e.step = (SELECT MAX(step) FROM metrics x WHERE x.run_id = r.id AND x.name = 'eval.nmse')
         ${where} ORDER BY r.id DESC LIMIT ?`,
      )
      .all(...args)
      .map((row) => {
        const r = row as RunRow & { eval_nmse: number | null; eval_loss_recovered: number | null; train_nmse: number | null }
        return { run: toRun(r), evalNmse: r.eval_nmse, evalLossRecovered: r.eval_loss_recovered, trainNmse: r.train_nmse }
      })
  }

  /** The registered datasets' ids, paths and names (for labels; the registry has the rest). */
  datasetNames(): { id: number; path: string; name: string }[] {
    return this.db.prepare('SELECT id, path, name FROM datasets').all() as { id: number; path: string; name: string }[]
  }

  // ---- feature indexes (migration 2; src/jobs/features) ---------------------------------------

  /**
   * Writes a finished feature index in one transaction, replacing any earlier rows of the run
   * (a resumed index restarts from scratch), so readers see all of it or none.
   */
  saveFeatureIndex(index: FeatureIndexRow, units: Iterable<FeatureUnitStoreRow>): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM feature_indexes WHERE run_id = ?').run(index.runId)
      this.db
        .prepare(
          'INSERT INTO feature_indexes (run_id, layer_run_id, kind, block, width, k, tokens, seq_len, dead, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(index.runId, index.layerRunId, index.kind, index.block, index.width, index.k, index.tokens, index.seqLen, index.dead, now())
      const insert = this.db.prepare('INSERT INTO feature_units (run_id, unit, count, mean, max, detail) VALUES (?, ?, ?, ?, ?, ?)')
      for (const u of units) insert.run(index.runId, u.unit, u.count, u.mean, u.max, u.detail)
    })()
  }

  getFeatureIndex(runId: number): FeatureIndexRow | undefined {
    const row = this.db.prepare('SELECT * FROM feature_indexes WHERE run_id = ?').get(runId) as Record<string, number | string> | undefined
    if (!row) return undefined
    return {
      runId: row.run_id as number,
      layerRunId: row.layer_run_id as number,
      kind: row.kind as string,
      block: row.block as number,
      width: row.width as number,
      k: row.k as number,
      tokens: row.tokens as number,
      seqLen: row.seq_len as number,
      dead: row.dead as number,
    }
  }

  /** The newest feature index of a layer run, if any. */
  latestFeatureIndex(layerRunId: number): FeatureIndexRow | undefined {
    const row = this.db.prepare('SELECT run_id FROM feature_indexes WHERE layer_run_id = ? ORDER BY run_id DESC LIMIT 1').get(layerRunId) as
      | { run_id: number }
      | undefined
    return row ? this.getFeatureIndex(row.run_id) : undefined
  }

  /**
   * Live units (count > 0) of an index, filtered by count (and by label: a case-insensitive
   * substring of the layer run's label, when `label` is given) and sorted; with the number
   * matching. Each row carries the unit's label (null where it has none): a join on the layer
   * run's labels, so they follow the layer across re-indexes.
   */
  listFeatureUnits(
    runId: number,
    o: { sort: 'count' | 'max' | 'unit'; desc: boolean; minCount: number; maxCount: number; offset: number; limit: number; label?: string },
  ): { total: number; units: (Omit<FeatureUnitStoreRow, 'detail'> & { label: string | null })[] } {
    const from = `feature_units u JOIN feature_indexes i ON i.run_id = u.run_id
      LEFT JOIN feature_labels l ON l.layer_run_id = i.layer_run_id AND l.unit = u.unit`
    let where = 'u.run_id = ? AND u.count > 0 AND u.count >= ? AND u.count <= ?'
    const args: (number | string)[] = [runId, o.minCount, o.maxCount]
    if (o.label !== undefined) {
      where += " AND l.label LIKE ? ESCAPE '\\'"
      args.push(`%${likePattern(o.label)}%`)
    }
    // Without a label filter the labels cannot change the count: it is counted on the units alone.
    const countFrom = o.label === undefined ? 'feature_units u' : from
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM ${countFrom} WHERE ${where}`).get(...args) as { n: number }).n
    const dir = o.desc ? 'DESC' : 'ASC'
    const units = this.db
      .prepare(
        `SELECT u.unit, u.count, u.mean, u.max, l.label AS label FROM ${from} WHERE ${where} ORDER BY u.${o.sort} ${dir}, u.unit ASC LIMIT ? OFFSET ?`,
      )
      .all(...args, o.limit, o.offset) as (Omit<FeatureUnitStoreRow, 'detail'> & { label: string | null })[]
    return { total, units }
  }

  // ---- feature labels (migration 3): the user's words on a unit, per layer run ---------------

  /** Sets a unit's label and notes; both empty removes the entry (then null is returned). */
  setFeatureLabel(layerRunId: number, unit: number, label: string, notes: string): FeatureLabelRow | null {
    if (label === '' && notes === '') {
      this.db.prepare('DELETE FROM feature_labels WHERE layer_run_id = ? AND unit = ?').run(layerRunId, unit)
      return null
    }
    const at = now()
    this.db
      .prepare(
        `INSERT INTO feature_labels (layer_run_id, unit, label, notes, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(layer_run_id, unit) DO UPDATE SET label = excluded.label, notes = excluded.notes, updated_at = excluded.updated_at`,
      )
      .run(layerRunId, unit, label, notes, at)
    return { layerRunId, unit, label, notes, updatedAt: at }
  }

  getFeatureLabel(layerRunId: number, unit: number): FeatureLabelRow | undefined {
    return this.db
      .prepare('SELECT layer_run_id AS layerRunId, unit, label, notes, updated_at AS updatedAt FROM feature_labels WHERE layer_run_id = ? AND unit = ?')
      .get(layerRunId, unit) as FeatureLabelRow | undefined
  }

  /** A layer run's labels by unit; with `query`, those whose label or notes contain it (case-insensitive, ASCII). */
  listFeatureLabels(layerRunId: number, query?: string, limit = 10_000): FeatureLabelRow[] {
    const args: (number | string)[] = [layerRunId]
    let where = 'layer_run_id = ?'
    if (query !== undefined) {
      where += " AND (label LIKE ? ESCAPE '\\' OR notes LIKE ? ESCAPE '\\')"
      const p = `%${likePattern(query)}%`
      args.push(p, p)
    }
    return this.db
      .prepare(
        `SELECT layer_run_id AS layerRunId, unit, label, notes, updated_at AS updatedAt FROM feature_labels WHERE ${where} ORDER BY unit LIMIT ?`,
      )
      .all(...args, limit) as FeatureLabelRow[]
  }

  getFeatureUnit(runId: number, unit: number): FeatureUnitStoreRow | undefined {
    const row = this.db.prepare('SELECT unit, count, mean, max, detail FROM feature_units WHERE run_id = ? AND unit = ?').get(runId, unit) as
      | (Omit<FeatureUnitStoreRow, 'detail'> & { detail: Buffer })
      | undefined
    return row ? { ...row, detail: new Uint8Array(row.detail.buffer, row.detail.byteOffset, row.detail.byteLength) } : undefined
  }

  // ---- steering presets (src/shared/steering.ts) ----------------------------------------------

  /** The saved steering presets, by name; `settings` is the JSON the caller validated when saving. */
  listSteeringPresets(): SteeringPresetRow[] {
    return this.db.prepare('SELECT id, name, settings, updated_at AS updatedAt FROM steering_presets ORDER BY name, id').all() as SteeringPresetRow[]
  }

  /** Saves a preset under `name`, replacing the settings of one saved under the same name (its id kept). */
  saveSteeringPreset(name: string, settings: string): SteeringPresetRow {
    return this.db
      .prepare(
        'INSERT INTO steering_presets (name, settings, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at RETURNING id, name, settings, updated_at AS updatedAt',
      )
      .get(name, settings, new Date().toISOString()) as SteeringPresetRow
  }

  deleteSteeringPreset(id: number): boolean {
    return this.db.prepare('DELETE FROM steering_presets WHERE id = ?').run(id).changes > 0
  }

  /**
   * Deletes a run's rows (metrics, checkpoints and log go with it) and then its folder
   * runs/<id> in the store, the only place the app writes a run's own files. A symlink there is
   * unlinked, never followed. Returns the folder removed, or null when there was none.
   */
  deleteRun(id: number): string | null {
    this.db.prepare('DELETE FROM runs WHERE id = ?').run(id)
    const dir = join(this.dir, 'runs', String(id))
    let st
    try {
      st = lstatSync(dir)
    } catch {
      return null
    }
    if (st.isDirectory()) rmSync(dir, { recursive: true, force: true })
    else unlinkSync(dir)
    return dir
  }
}

/** A LIKE pattern matching `text` literally (its %, _ and \\ escaped with \\). */
function likePattern(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

/** A user's label and notes on one unit of a layer run (Store.setFeatureLabel). */
export interface FeatureLabelRow {
  layerRunId: number
  unit: number
  label: string
  notes: string
  updatedAt: string
}

/** A run with its headline metrics (Store.runSummaryRows). */
export interface RunSummaryRow {
  run: Run
  evalNmse: number | null
  evalLossRecovered: number | null
  trainNmse: number | null
}

/** One feature index (a `feature-index` run), as stored. */
export interface FeatureIndexRow {
  runId: number
  layerRunId: number
  kind: string
  block: number
  width: number
  k: number
  tokens: number
  seqLen: number
  dead: number
}

/** One unit of a feature index: sortable statistics and the encoded detail (src/analysis/features/codec.ts). */
export interface FeatureUnitStoreRow {
  unit: number
  count: number
  mean: number
  max: number
  detail: Uint8Array
}

/** One saved steering preset, as stored. */
export interface SteeringPresetRow {
  id: number
  name: string
  settings: string
  updatedAt: string
}
