// The privacy-verify job (`mxd privacy verify DIR`): recomputes a certificate from what it stores
// and says pass or fail, number by number. The inputs are the folder (w*, the protected indices,
// the settings) and the dataset it names, found in the store by its content hash; the computation
// is the certify job's own (certify.ts certify()), so nothing the certificate claims is taken on
// trust: the data and the protected set must hash to what was recorded, w⁻, the constants, Δ and
// σ must come out the same, and the released weights must be exactly w⁻ + σ·N(0, I) from the seed,
// rounded to float32.
import { join } from 'node:path'
import { createClassifier } from '../../engine/classifiers/registry.js'
import { norm } from '../../engine/privacy/linalg.js'
import { flattenParams } from '../../engine/privacy/params.js'
import type { ImageDataset } from '../../shared/images.js'
import { PRIVACY_RESULT_FILE, PrivacyVerifyConfig, type PrivacyVerifyResult } from '../../shared/privacy.js'
import { certificateByDir, getCertificate, updateCertificateStatus } from '../../store/certificates.js'
import { writeFileAtomic } from '../../store/files.js'
import { getImageDataset, listImageDatasets } from '../../data/images/registry.js'
import { defineJob, JobError, type JobContext } from '../job.js'
import { CertificateFolderError, readCertificateFolder, type CertificateFolder } from './certificate.js'
import { certify, releasedVector } from './certify.js'
import { complement, rowsHash, trainAndTest } from './data.js'
import { indexHash, subsetRows } from './protected.js'

type Check = PrivacyVerifyResult['checks'][number]

/** Recomputed numbers must agree to this (relative): the same computation, up to float32 products in threads. */
export const VERIFY_RELATIVE = 1e-4

const exact = (name: string, stored: string | number, recomputed: string | number): Check => ({ name, stored, recomputed, tolerance: 'exact', pass: stored === recomputed })

function close(name: string, stored: number, recomputed: number, rel = VERIFY_RELATIVE): Check {
  const scale = Math.max(Math.abs(stored), Math.abs(recomputed))
  const pass = Number.isFinite(recomputed) && (scale === 0 || Math.abs(stored - recomputed) <= rel * scale)
  return { name, stored, recomputed, tolerance: `relative ${rel}`, pass }
}

/** The registered image dataset the certificate names: its id if the hash still matches, else any with that hash. */
async function findDataset(ctx: JobContext<PrivacyVerifyConfig>, folder: CertificateFolder): Promise<ImageDataset> {
  const d = folder.json.dataset
  const byId = await getImageDataset(ctx.store.db, d.id)
  if (byId && byId.sha256 === d.sha256) return byId
  const byHash = (await listImageDatasets(ctx.store.db)).find((x) => x.sha256 === d.sha256)
  if (byHash) return byHash
  throw new JobError(
    `The certificate was computed on image dataset "${d.name}" (sha256 ${d.sha256.slice(0, 12)}…, from ${d.path}), which is not registered in this store with those contents: register it with "mxd images add ${d.path}" (the same files), then verify again.`,
  )
}

async function privacyVerify(ctx: JobContext<PrivacyVerifyConfig>): Promise<void> {
  const started = performance.now()
  const ref = ctx.config.certificate
  let dir: string
  if ('id' in ref) {
    const row = getCertificate(ctx.store.db, ref.id)
    if (!row) throw new JobError(`There is no certificate #${ref.id}: the Privacy page (or mxd privacy verify DIR) lists them.`)
    dir = row.dir
  } else dir = ref.dir
  const checks: Check[] = []
  const rowOf = (): ReturnType<typeof getCertificate> => ('id' in ref ? getCertificate(ctx.store.db, ref.id) : certificateByDir(ctx.store.db, dir))
  const finish = (pass: boolean): void => {
    const result: PrivacyVerifyResult = { dir, pass, checks, seconds: (performance.now() - started) / 1000 }
    writeFileAtomic(join(ctx.store.runDir(ctx.runId), PRIVACY_RESULT_FILE), Buffer.from(JSON.stringify(result) + '\n'))
    const row = rowOf()
    if (row) updateCertificateStatus(ctx.store.db, row.id, pass ? 'verified' : 'failed', ctx.runId)
    for (const c of checks.filter((x) => !x.pass)) ctx.log('warn', `FAILED: ${c.name}: stored ${c.stored}, recomputed ${c.recomputed} (${c.tolerance}).`)
    ctx.progress({ unit: 'steps', done: 3, total: 3, message: pass ? `pass: ${checks.length} checks` : `FAIL: ${checks.filter((x) => !x.pass).length} of ${checks.length} checks` })
  }
  ctx.progress({ unit: 'steps', done: 0, total: 3, message: `reading ${dir}` })
  let folder: CertificateFolder
  try {
    folder = readCertificateFolder(dir)
  } catch (err) {
    if (!(err instanceof CertificateFolderError)) throw err
    // A folder that is missing or not a certificate cannot be verified at all (the run fails); one
    // whose files do not match their recorded hashes is a certificate that fails verification.
    if (!/does not match/.test(err.message)) throw new JobError(err.message)
    checks.push(exact('weight files and protected.json match their recorded sha256', 'match', err.message))
    finish(false)
    return
  }
  const j = folder.json
  try {
    checks.push(exact('weight files and protected.json match their recorded sha256', 'match', 'match'))
    const dataset = await findDataset(ctx, folder)
    const s = j.dataset.split
    const split = `${dataset.split.validationFraction}/${dataset.split.testFraction}/${dataset.split.seed}`
    checks.push(exact('dataset split (validation fraction / test fraction / seed)', `${s.validationFraction}/${s.testFraction}/${s.seed}`, split))
    const { train, test } = await trainAndTest(ctx.store, dataset.id)
    const forgetIndices = folder.protectedIndices
    if (forgetIndices.some((i) => i >= train.labels.length)) throw new JobError(`${join(dir, 'protected.json')} lists an index past the training split's ${train.labels.length} images: the dataset's split differs from the certificate's.`)
    const retainIndices = complement(forgetIndices, train.labels.length)
    const sets = { forget: subsetRows(train, forgetIndices), retain: subsetRows(train, retainIndices) }
    checks.push(exact('protected set hash (D_f indices)', j.protected.forgetHash, indexHash(forgetIndices)))
    checks.push(exact('retained set hash (D_r indices)', j.protected.retainHash, indexHash(retainIndices)))
    checks.push(exact('D_f images and labels (sha256)', j.dataHashes.forget, rowsHash(sets.forget)))
    checks.push(exact('D_r images and labels (sha256)', j.dataHashes.retain, rowsHash(sets.retain)))
    checks.push(exact('test images and labels (sha256)', j.dataHashes.test, rowsHash(test)))

    const model = createClassifier(j.model.kind, j.model.config, j.model.shape)
    ctx.progress({ unit: 'steps', done: 1, total: 3, message: 'recomputing the Newton step' })
    const C = j.constants.C?.value
    if (C === undefined) throw new JobError(`${join(dir, 'certificate.json')} has no norm bound C among its constants: it is incomplete; issue the certificate again.`)
    let cert
    try {
      cert = certify(
        model,
        sets,
        folder.wStar,
        { objective: { theta: j.theta, lambda: j.lambda, lossK: j.lossK, temperature: j.temperature }, normBound: C, epsilon: j.epsilon, delta: j.delta, seed: j.seed, solver: j.solver },
        (message, done, total) => ctx.progress({ unit: 'steps', done: 1 + done / Math.max(total, 1), total: 3, message }),
      )
    } catch (err) {
      // The certificate's own numbers make the computation refuse (‖w*‖ > C, λ + λ_min ≤ 0): it fails.
      if (!(err instanceof JobError)) throw err
      checks.push(exact('the certified computation accepts the stored settings', 'accepted', err.message))
      finish(false)
      return
    }
    let diff = 0
    for (let i = 0; i < cert.step.wMinus.length; i++) diff += (cert.step.wMinus[i]! - folder.wMinus[i]!) ** 2
    const wMinusNorm = norm(folder.wMinus)
    const gap = wMinusNorm === 0 ? Math.sqrt(diff) : Math.sqrt(diff) / wMinusNorm
    checks.push({ name: 'w⁻ = w* − H⁻¹g: ‖recomputed − stored‖ / ‖stored‖', stored: 0, recomputed: gap, tolerance: `≤ ${VERIFY_RELATIVE}`, pass: gap <= VERIFY_RELATIVE })
    checks.push(close('λ_min of the Hessian', j.newton.lambdaMin, cert.step.lambdaMin.value))
    checks.push(exact('Hessian shift', j.newton.shift === 0 ? 'none' : 'shifted', cert.step.shift === 0 ? 'none' : 'shifted'))
    for (const [name, k] of Object.entries(j.constants)) {
      const mine = (cert.constants as unknown as Record<string, { value: number; provenance: string }>)[name]
      if (!mine) checks.push(exact(`constant ${name}`, k.value, 'not computed'))
      else {
        checks.push(close(`constant ${name} (${k.provenance})`, k.value, mine.value))
        checks.push(exact(`provenance of ${name}`, k.provenance, mine.provenance))
      }
    }
    checks.push(exact('form of the sensitivity bound', j.sensitivity.form, cert.sensitivity.form))
    checks.push(close('sensitivity Δ', j.sensitivity.value, cert.sensitivity.value))
    checks.push(close('σ = (Δ/ε)·√(2 ln(1.25/δ))', j.sigma, cert.sigma))

    ctx.progress({ unit: 'steps', done: 2, total: 3, message: 'regenerating the noise' })
    // The released weights are w⁻ + σz in float64, stored as float32: each must be exactly that rounding.
    const expected = releasedVector(folder.wMinus, j.sigma, j.seed)
    const stored = flattenParams(folder.released.params, cert.layout)
    let mismatches = 0
    for (let i = 0; i < expected.length; i++) if (Math.fround(expected[i]!) !== stored[i]) mismatches++
    checks.push(exact('released weights = float32(w⁻ + σ·N(0, I) from the seed): values that differ', 0, mismatches))

    finish(checks.every((c) => c.pass))
  } finally {
    folder.released.dispose()
  }
}

export const privacyVerifyJob = defineJob('privacy-verify', PrivacyVerifyConfig, privacyVerify)
