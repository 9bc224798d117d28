// The privacy-attack job: the attacks of docs/privacy.md ("Attacks") on a model's protected set,
// standalone — on a classify-train run's model (protected set given), a privacy-finetune run's
// kept model (its own protected set unless another is given), or a certificate's released model
// (the certificate's protected set). Writes result.json {target, attacks}.
import { join } from 'node:path'
import { runAttacks } from '../../engine/privacy/attacks.js'
import { PRIVACY_RESULT_FILE, PrivacyAttackConfig, PrivacyFinetuneConfig, type PrivacyAttackResult } from '../../shared/privacy.js'
import { getCertificate } from '../../store/certificates.js'
import { writeFileAtomic } from '../../store/files.js'
import { loadClassifierFolder } from '../classify/model-folder.js'
import { defineJob, JobError, type JobContext } from '../job.js'
import { CertificateFolderError, readCertificateFolder } from './certificate.js'
import { loadPrivacyInputs, trainAndTest } from './data.js'
import { FINETUNE_MODEL_DIR } from './finetune.js'
import { subsetRows } from './protected.js'

async function privacyAttack(ctx: JobContext<PrivacyAttackConfig>): Promise<void> {
  const c = ctx.config
  const t = c.target
  let result: PrivacyAttackResult
  ctx.progress({ unit: 'attacks', done: 0, total: 1, message: 'loading the model and its protected set' })
  if ('certificateId' in t) {
    const row = getCertificate(ctx.store.db, t.certificateId)
    if (!row) throw new JobError(`There is no certificate #${t.certificateId}: the Privacy page lists them.`)
    let folder
    try {
      folder = readCertificateFolder(row.dir)
    } catch (err) {
      throw err instanceof CertificateFolderError ? new JobError(err.message) : err
    }
    try {
      const { train } = await trainAndTest(ctx.store, folder.json.dataset.id)
      const forget = subsetRows(train, folder.protectedIndices)
      result = { target: `certificate #${row.id}'s released model (${row.dir})`, attacks: runAttacks(folder.released.model, folder.released.params, forget, c.attacks) }
    } finally {
      folder.released.dispose()
    }
  } else {
    const run = ctx.store.getRun(t.runId)
    if (run?.kind === 'privacy-finetune') {
      if (run.status !== 'succeeded') throw new JobError(`Privacy fine-tuning run ${t.runId} is ${run.status}: attack it once it has succeeded.`)
      const tuned = PrivacyFinetuneConfig.parse(run.config)
      const inputs = await loadPrivacyInputs(ctx.store, tuned.trainRunId, c.protect ?? tuned.protect)
      inputs.saved.dispose()
      const kept = loadClassifierFolder(join(ctx.store.runDir(t.runId), FINETUNE_MODEL_DIR))
      try {
        result = { target: `run ${t.runId}'s fine-tuned model`, attacks: runAttacks(kept.model, kept.params, inputs.sets.forget, c.attacks) }
      } finally {
        kept.dispose()
      }
    } else {
      if (!c.protect) throw new JobError(`Attacking classifier run ${t.runId} needs a protected set (--protect): the attacks run on D_f.`)
      const inputs = await loadPrivacyInputs(ctx.store, t.runId, c.protect)
      try {
        result = { target: `run ${t.runId}'s classifier`, attacks: runAttacks(inputs.saved.model, inputs.saved.params, inputs.sets.forget, c.attacks) }
      } finally {
        inputs.saved.dispose()
      }
    }
  }
  writeFileAtomic(join(ctx.store.runDir(ctx.runId), PRIVACY_RESULT_FILE), Buffer.from(JSON.stringify(result) + '\n'))
  for (const a of result.attacks) ctx.log('info', `${a.kind} (radius ${a.radius}): forget distance ${a.distanceBefore.toFixed(4)} → ${a.distanceAfter.toFixed(4)}, ${(100 * a.confidentFraction).toFixed(1)}% confident above ${a.confidentAbove}.`)
  ctx.progress({ unit: 'attacks', done: 1, total: 1, message: `${result.attacks.length} attacks on ${result.target}` })
}

export const privacyAttackJob = defineJob('privacy-attack', PrivacyAttackConfig, privacyAttack)
