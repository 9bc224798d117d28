// The privacy-finetune job: Algorithm 1 (Pareto fine-tuning, docs/privacy.md) on a classify-train
// run's model. Loads w* and the sets, measures w*, fine-tunes at θ (and at each θ of the sweep,
// each from w*), keeps the epoch the rule picks, attacks the kept model on D_f, saves it as a
// classifier folder (reloadable and evaluable like a training run's) and writes result.json.
// Resume re-runs from the start: fine-tuning is deterministic for its seed, so a resumed run ends
// with the same model and figures as an uninterrupted one.
import { join } from 'node:path'
import { saveClassifierFolder } from '../../engine/classifiers/folder.js'
import { disposeParams } from '../../engine/classifiers/classifier.js'
import { runAttacks } from '../../engine/privacy/attacks.js'
import { paretoFinetune, type ParetoResult } from '../../engine/privacy/pareto.js'
import { modelReport } from '../../engine/privacy/report.js'
import type { ParetoEpoch } from '../../engine/privacy/types.js'
import { PRIVACY_RESULT_FILE, PrivacyFinetuneConfig, type PrivacyFinetuneResult, type TradeoffPoint } from '../../shared/privacy.js'
import { writeFileAtomic } from '../../store/files.js'
import { defineJob, type JobContext } from '../job.js'
import { loadPrivacyInputs } from './data.js'
import { epochRecord, tradeoffPoint } from './shared.js'

export const FINETUNE_MODEL_DIR = 'model'

async function privacyFinetune(ctx: JobContext<PrivacyFinetuneConfig>): Promise<void> {
  const c = ctx.config
  const started = performance.now()
  const inputs = await loadPrivacyInputs(ctx.store, c.trainRunId, c.protect)
  const { saved, sets, test } = inputs
  const model = saved.model
  const thetas = [c.objective.theta, ...c.sweep.filter((t) => t !== c.objective.theta)]
  const totalEpochs = thetas.length * c.epochs
  try {
    ctx.log('info', `Protected set: ${sets.forget.labels.length} images (D_f), ${sets.retain.labels.length} kept (D_r); ${model.paramCount().toLocaleString('en')} parameters.`)
    ctx.progress({ unit: 'epochs', done: 0, total: totalEpochs, message: 'measuring the pretrained model' })
    const before = modelReport(model, saved.params, sets, test)
    let main: ParetoResult | null = null
    const sweep: TradeoffPoint[] = []
    for (const [t, theta] of thetas.entries()) {
      const onEpoch = (e: ParetoEpoch): void => {
        if (t === 0) ctx.store.addMetrics(ctx.runId, e.epoch, { objective: e.objective.total, forget_distance: e.forgetDistance, retain_accuracy: e.retainAccuracy, ...(e.testAccuracy === null ? {} : { test_accuracy: e.testAccuracy }) })
        ctx.progress({ unit: 'epochs', done: t * c.epochs + e.epoch, total: totalEpochs, message: `θ = ${theta}: epoch ${e.epoch}/${c.epochs}, forget distance ${e.forgetDistance.toFixed(4)}, retain accuracy ${(100 * e.retainAccuracy).toFixed(2)}%` })
      }
      const result = await paretoFinetune(model, saved.params, sets, {
        objective: { ...c.objective, theta },
        optimizer: c.optimizer,
        lr: c.lr,
        epochs: c.epochs,
        batch: c.batch,
        surgery: c.surgery,
        projectNorm: c.projectNorm,
        retainFloor: c.retainFloor,
        seed: c.seed,
        test,
        onEpoch,
        cancelled: ctx.cancelled,
      })
      if (ctx.cancelled()) {
        disposeParams(result.params)
        ctx.log('info', 'Cancelled; resume to run again from the start (fine-tuning is deterministic for its seed).')
        return
      }
      const report = modelReport(model, result.params, sets, test)
      sweep.push(tradeoffPoint(theta, report, before, null))
      if (t === 0) main = result
      else disposeParams(result.params)
    }
    const kept = main!
    try {
      const after = modelReport(model, kept.params, sets, test)
      ctx.progress({ unit: 'epochs', done: totalEpochs, total: totalEpochs, message: 'attacking the kept model on D_f' })
      const attacks = runAttacks(model, kept.params, sets.forget, c.attacks)
      const modelDir = join(ctx.store.runDir(ctx.runId), FINETUNE_MODEL_DIR)
      saveClassifierFolder(modelDir, { ...saved.config, runId: ctx.runId }, kept.params)
      const result: PrivacyFinetuneResult = {
        protected: inputs.protected,
        classes: inputs.classes,
        before,
        after,
        epochs: kept.epochs.map(epochRecord),
        kept: kept.kept,
        sweep: sweep.sort((a, b) => a.theta - b.theta),
        attacks,
        modelDir,
        seconds: (performance.now() - started) / 1000,
      }
      writeFileAtomic(join(ctx.store.runDir(ctx.runId), PRIVACY_RESULT_FILE), Buffer.from(JSON.stringify(result) + '\n'))
      ctx.log('info', `Forget distance ${before.forget.distance.toFixed(4)} → ${after.forget.distance.toFixed(4)}; test accuracy ${(100 * before.testAccuracy).toFixed(2)}% → ${(100 * after.testAccuracy).toFixed(2)}% (${kept.kept.reason}).`)
    } finally {
      disposeParams(kept.params)
    }
  } finally {
    saved.dispose()
  }
}

export const privacyFinetuneJob = defineJob('privacy-finetune', PrivacyFinetuneConfig, privacyFinetune)
