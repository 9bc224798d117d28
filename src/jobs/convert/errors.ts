// The conversion job's two ways of failing mid-training, as the messages the user acts on: a
// non-finite loss or parameter (resume from the last good checkpoint at a lower lr) and a
// diverged run (start over at a lower lr).
import { JobError } from '../../shared/errors.js'
import { lowerLr } from '../../shared/convert.js'

/**
 * A run whose last training NMSE is above this has failed: outputting zero scores exactly 1, and
 * a healthy run starts there (D = 0 at init) and only goes down, so 1.5 leaves room for the noise
 * of a short run's last window yet catches every divergence seen (lr 1: NMSE ≈ 1e8).
 */
export const DIVERGED_NMSE = 1.5
/** A metrics window this far above zero's NMSE after the warm-up stops the run at once (no way back). */
export const RUNAWAY_NMSE = 1e3

export function nanError(what: string, step: number, lastGood: number, lr: number, runId: number, value?: number): JobError {
  const kind = value === undefined ? 'NaN or Inf' : Number.isNaN(value) ? 'NaN' : 'Inf'
  const lower = lowerLr(lr)
  // With a good checkpoint the run can go on from it at a lower lr; without one it starts over.
  const next =
    lastGood >= 0
      ? `the last good checkpoint (step ${lastGood}) is kept: resume it with a lower learning rate than ${lr}, e.g. ${lower} (mxd train --resume ${runId} --lr ${lower})`
      : `no checkpoint had been written yet: start a new run with a lower learning rate than ${lr}, e.g. --lr ${lower}`
  return new JobError(`${what === 'the loss' ? `loss became ${kind}` : `${what} became ${kind}`} at step ${step}; ${next}.`)
}

export function divergedError(nmse: number, step: number, lr: number, early: boolean): JobError {
  const lower = lowerLr(lr)
  const when = early ? `reached ${nmse.toPrecision(3)} at step ${step}` : `ended at ${nmse.toPrecision(3)} (step ${step})`
  return new JobError(
    `Training diverged: the training NMSE ${when}, above ${DIVERGED_NMSE} (outputting zero scores 1) with lr ${lr}. ` +
      `Lower the learning rate: start a new run with --lr ${lower}.`,
  )
}
