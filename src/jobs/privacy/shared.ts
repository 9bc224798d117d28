// Pieces the privacy jobs share: an epoch of Pareto fine-tuning as stored, and a point of the
// trade-off curve (a θ's model against w*, with the paper's bound where constants are known).
import { tradeoffBound } from '../../engine/privacy/bounds.js'
import type { CertificateConstants, ParetoEpoch } from '../../engine/privacy/types.js'
import type { ModelReport, TradeoffPoint } from '../../shared/privacy.js'

export function epochRecord(e: ParetoEpoch): PrivacyEpoch {
  return {
    epoch: e.epoch,
    objective: e.objective.total,
    lossK: e.objective.lossK,
    lossA: e.objective.lossA,
    forgetDistance: e.forgetDistance,
    forgetAccuracy: e.forgetAccuracy,
    retainAccuracy: e.retainAccuracy,
    testAccuracy: e.testAccuracy,
    weightNorm: e.weightNorm,
    conflicts: e.conflicts,
    seconds: e.seconds,
  }
}
type PrivacyEpoch = import('../../shared/privacy.js').PrivacyFinetuneResult['epochs'][number]

/** θ's model measured against w*; the bound needs the certificate's constants (null without them). */
export function tradeoffPoint(theta: number, report: ModelReport, before: ModelReport, constants: CertificateConstants | null): TradeoffPoint {
  const bound = constants
    ? tradeoffBound(constants, theta)
    : { value: null, note: 'no bound: it needs the norm bound C and the constants L and M, which the certified path computes (mxd privacy certify --sweep)' }
  return {
    theta,
    forgetDistance: report.forget.distance,
    testAccuracy: report.testAccuracy,
    retainLoss: report.retainLoss,
    retainLossChange: Math.abs(report.retainLoss - before.retainLoss),
    bound: bound.value,
    boundNote: bound.note,
  }
}
