// Rows of the certificates table (migration 6): one per certificate a privacy-certify run issued,
// listing its folder with its headline numbers; privacy-verify records its latest outcome here.
// The folder is the certificate (jobs/privacy/certificate.ts); a row is only its index entry.
import type Database from 'better-sqlite3'
import type { CertificateSummary } from '../shared/privacy.js'

export interface NewCertificate {
  runId: number
  trainRunId: number
  dir: string
  model: string
  epsilon: number
  delta: number
  sigma: number
  sensitivity: number
  useful: boolean
}

interface CertificateRow {
  id: number
  run_id: number
  train_run_id: number
  dir: string
  model: string
  epsilon: number
  delta: number
  sigma: number
  sensitivity: number
  useful: number
  status: CertificateSummary['status']
  created_at: string
  verified_at: string | null
  verify_run_id: number | null
}

const toSummary = (r: CertificateRow): CertificateSummary => ({
  id: r.id,
  runId: r.run_id,
  trainRunId: r.train_run_id,
  dir: r.dir,
  model: r.model,
  epsilon: r.epsilon,
  delta: r.delta,
  sigma: r.sigma,
  sensitivity: r.sensitivity,
  useful: r.useful === 1,
  status: r.status,
  createdAt: r.created_at,
  verifiedAt: r.verified_at,
})

/** Records an issued certificate (status "issued") and returns it. */
export function insertCertificate(
  db: Database.Database,
  c: NewCertificate,
  createdAt: string = new Date().toISOString(),
): CertificateSummary {
  db.prepare(
      // A resumed certify run that had already listed its certificate re-issues it: the same row,
      // renewed (one row per run), never a second one.
      `INSERT INTO certificates (run_id, train_run_id, dir, model, epsilon, delta, sigma, sensitivity, useful, status, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'issued', ?)
       ON CONFLICT (run_id) DO UPDATE SET train_run_id = excluded.train_run_id, dir = excluded.dir, model = excluded.model,
         epsilon = excluded.epsilon, delta = excluded.delta, sigma = excluded.sigma, sensitivity = excluded.sensitivity,
         useful = excluded.useful, status = 'issued', created_at = excluded.created_at, verified_at = NULL, verify_run_id = NULL`,
    )
    .run(c.runId, c.trainRunId, c.dir, c.model, c.epsilon, c.delta, c.sigma, c.sensitivity, c.useful ? 1 : 0, createdAt)
  return certificateByRun(db, c.runId)!
}

/** A verification's outcome: "verified" or "failed", when, and by which privacy-verify run. */
export function updateCertificateStatus(
  db: Database.Database,
  id: number,
  status: 'verified' | 'failed',
  verifyRunId: number | null,
  verifiedAt: string = new Date().toISOString(),
): CertificateSummary {
  const changed = db
    .prepare('UPDATE certificates SET status = ?, verified_at = ?, verify_run_id = ? WHERE id = ?')
    .run(status, verifiedAt, verifyRunId, id).changes
  if (changed === 0) throw new Error(`There is no certificate #${id}: the Privacy page (API privacy.listCertificates) lists them.`)
  return getCertificate(db, id)!
}

export function getCertificate(db: Database.Database, id: number): CertificateSummary | undefined {
  const row = db.prepare('SELECT * FROM certificates WHERE id = ?').get(id) as CertificateRow | undefined
  return row ? toSummary(row) : undefined
}

/** The certificate privacy-certify run `runId` issued. */
export function certificateByRun(db: Database.Database, runId: number): CertificateSummary | undefined {
  const row = db.prepare('SELECT * FROM certificates WHERE run_id = ?').get(runId) as CertificateRow | undefined
  return row ? toSummary(row) : undefined
}

/** The certificate whose folder is `dir` (a verify run given a folder records its outcome there too). */
export function certificateByDir(db: Database.Database, dir: string): CertificateSummary | undefined {
  const row = db.prepare('SELECT * FROM certificates WHERE dir = ? ORDER BY id DESC LIMIT 1').get(dir) as CertificateRow | undefined
  return row ? toSummary(row) : undefined
}

/** Every certificate, newest first. */
export function listCertificates(db: Database.Database): CertificateSummary[] {
  return (db.prepare('SELECT * FROM certificates ORDER BY id DESC').all() as CertificateRow[]).map(toSummary)
}
