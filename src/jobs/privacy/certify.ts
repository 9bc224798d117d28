// The privacy-certify job: Algorithm 2 (docs/privacy.md, "Certified"). From w* (a classify-train
// run's logreg or MLP), g = ∇F(w*) and H = ∇²F(w*) made positive definite, one full Newton step
// w⁻ = w* − H⁻¹g; the constants (bounded for logistic regression, estimated for the MLP), the
// sensitivity Δ, σ = (Δ/ε)√(2 ln(1.25/δ)), and w̃ = w⁻ + σ·N(0, I) from the recorded seed. Then
// the three models are measured, the released one attacked, a θ sweep drawn where asked, and the
// certificate folder written (run folder, and --out), listed in the store.
import { join } from 'node:path'
import { disposeParams, type Classifier, type ClassifierParams } from '../../engine/classifiers/classifier.js'
import { accuracyOf, predictLogits } from '../../engine/classifiers/rows.js'
import { runAttacks } from '../../engine/privacy/attacks.js'
import { epsilonFor, gaussianCaveats, gaussianSigma, sensitivity } from '../../engine/privacy/bounds.js'
import { estimatedConstants, inputNormBound, logregConstants, logregConvex } from '../../engine/privacy/constants.js'
import { curvatureFor } from '../../engine/privacy/curvature/registry.js'
import { norm } from '../../engine/privacy/linalg.js'
import { newtonStep } from '../../engine/privacy/newton.js'
import { gaussianNoise } from '../../engine/privacy/noise.js'
import { paretoFinetune } from '../../engine/privacy/pareto.js'
import { flattenParams, paramLayout, paramsFromVector } from '../../engine/privacy/params.js'
import { modelReport } from '../../engine/privacy/report.js'
import type { CertificateConstants, ObjectiveConfig, PrivacySets } from '../../engine/privacy/types.js'
import { PIXEL_SCALE } from '../../engine/classifiers/folder.js'
import { CERTIFICATE_DIR, PRIVACY_RESULT_FILE, PrivacyCertifyConfig, type ModelReport, type PrivacyCertifyResult, type TradeoffPoint } from '../../shared/privacy.js'
import { writeFileAtomic } from '../../store/files.js'
import { defineJob, JobError, type JobContext } from '../job.js'
import { loadPrivacyInputs, type PrivacyInputs } from './data.js'
import { insertCertificate } from '../../store/certificates.js'
import { writeCertificateFolder, type CertificateDraft } from './certificate.js'
import { tradeoffPoint } from './shared.js'

/** Random directions for the MLP's Hessian-Lipschitz estimate, and how far along them. */
const M_SAMPLES = 3
const M_RADIUS = 1e-2

/** A released model is useless when its test accuracy is within this of chance… */
const USELESS_OVER_CHANCE = 0.05
/** …or this far below w*'s. */
const USELESS_DROP = 0.2

export function isUseful(released: ModelReport, before: ModelReport, classes: number): boolean {
  return released.testAccuracy > 1 / classes + USELESS_OVER_CHANCE && released.testAccuracy >= before.testAccuracy - USELESS_DROP
}

const fmt = (x: number): string => (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : String(Number(x.toPrecision(4))))

/** The Pareto fine-tuning that measures α(θ), the retain loss of the θ-Pareto model, for the sweep. */
const SWEEP_TUNING = { optimizer: 'adam', lr: 1e-3, epochs: 30, batch: 0 } as const

/** Everything a certificate is computed from, and how: shared with verification, which recomputes it. */
export interface Certification {
  layout: ReturnType<typeof paramLayout>
  wStar: Float64Array
  step: ReturnType<typeof newtonStep>
  constants: CertificateConstants
  convex: boolean
  solverErrorBound: number
  sensitivity: ReturnType<typeof sensitivity>
  sigma: number
  estimator: { samples: number; radius: number; seed: number } | null
}

/**
 * Algorithm 2 up to σ: the Newton step from w*, the constants, Δ and σ. The job and `verify` both
 * call this, so a certificate is checked by the very computation that issued it, from the stored
 * inputs alone.
 */
export function certify(
  model: Classifier,
  sets: PrivacySets,
  wStar: Float64Array,
  c: Pick<PrivacyCertifyConfig, 'objective' | 'normBound' | 'epsilon' | 'delta' | 'seed' | 'solver'>,
  progress: (message: string, done: number, total: number) => void,
): Certification {
  const objective: ObjectiveConfig = c.objective
  const layout = paramLayout(model)
  let curvature
  try {
    curvature = curvatureFor(model, sets, objective)
  } catch (err) {
    throw new JobError(`${(err as Error).message}.`)
  }
  const C = c.normBound
  const starNorm = norm(wStar)
  if (starNorm > C) {
    throw new JobError(`‖w*‖ = ${fmt(starNorm)} exceeds the norm bound C = ${fmt(C)}: the sensitivity bound assumes ‖w‖ ≤ C, so set C to at least ${fmt(starNorm)} (Δ grows with C²), or train the classifier with more weight decay.`)
  }
  const convex = model.kind === 'logreg' && logregConvex(objective.lossK)
  // Convex losses of a linear model: ∇²F ⪰ λI is proven, so the CG path needs no Lanczos estimate.
  const lambdaMinBound = convex ? { value: objective.lambda, method: `bounded: λ = ${objective.lambda} (CE and ${objective.lossK} are convex in w, so ∇²F ⪰ λI)` } : undefined
  const step = newtonStep(wStar, curvature, { ...c.solver, lambda: objective.lambda, onProgress: progress, ...(lambdaMinBound ? { lambdaMinBound } : {}) })
  const minusNorm = norm(step.wMinus)
  if (minusNorm > C) {
    throw new JobError(`‖w⁻‖ = ${fmt(minusNorm)} after the Newton step exceeds the norm bound C = ${fmt(C)}: the bound assumes both w* and the θ-Pareto model lie in ‖w‖ ≤ C; set C to at least ${fmt(minusNorm)}.`)
  }
  const n = { classes: model.shape.classes, lambda: objective.lambda, normBound: C, nForget: sets.forget.labels.length, nRetain: sets.retain.labels.length, parameters: wStar.length }
  const inputNorm = inputNormBound([sets.forget, sets.retain], PIXEL_SCALE)
  let constants: CertificateConstants
  let estimator: Certification['estimator'] = null
  if (model.kind === 'logreg') {
    constants = logregConstants({ ...n, inputNorm, temperature: objective.temperature, lossK: objective.lossK, theta: objective.theta, ...(convex ? {} : { measuredLambdaMin: step.lambdaMin }) })
  } else {
    estimator = { samples: M_SAMPLES, radius: M_RADIUS, seed: c.seed }
    progress('estimating the constants (per-example gradients, Hessian differences)', 0, 1)
    // The Hessian of one set's mean loss alone, without the regulariser: θ = 1 (D_f) or 0 (D_r), λ = 0.
    const alone = (set: 'forget' | 'retain') => curvatureFor(model, sets, { ...objective, theta: set === 'forget' ? 1 : 0, lambda: 0 })
    constants = estimatedConstants({
      ...n,
      inputNorm,
      perExampleGradientNorms: (set) => curvature.perExampleGradientNorms(wStar, set),
      hessianAt: (w, set) => alone(set).hessian(w),
      wStar,
      lambdaMin: step.lambdaMin,
      ...estimator,
    })
  }
  // For a convex objective ∇²F ⪰ λI, so ‖x − H⁻¹g‖ ≤ residual/λ is a bound; otherwise the solver's
  // own bound (residual over the measured smallest eigenvalue of H_pd).
  const solverErrorBound = convex ? step.solver.residualNorm / objective.lambda : step.solver.errorBound
  let sens
  try {
    sens = sensitivity(constants, objective.theta, { convex, solverErrorBound })
  } catch (err) {
    throw new JobError(`${(err as Error).message}.`)
  }
  return { layout, wStar, step, constants, convex, solverErrorBound, sensitivity: sens, sigma: gaussianSigma(sens.value, c.epsilon, c.delta), estimator }
}

/** w̃ = w⁻ + σ·z, z ~ N(0, I) from the seed (noise.ts: the same numbers on every machine). */
export function releasedVector(wMinus: Float64Array, sigma: number, seed: number): Float64Array {
  const z = gaussianNoise(seed, wMinus.length)
  const out = new Float64Array(wMinus.length)
  for (let i = 0; i < out.length; i++) out[i] = wMinus[i]! + sigma * z[i]!
  return out
}

/**
 * Whether σ leaves a useful model, and if not, the largest σ that would (the same noise direction
 * scaled; bisection in log σ on the test accuracy) and the ε that calibrates to it.
 */
function usefulness(
  inputs: PrivacyInputs,
  cert: Certification,
  c: PrivacyCertifyConfig,
  before: ModelReport,
  released: ModelReport,
): { useful: boolean; note: string; epsilonForUseful: number | null } {
  const model = inputs.saved.model
  const K = model.shape.classes
  const useful = isUseful(released, before, K)
  const rule = `useful = test accuracy above chance + ${100 * USELESS_OVER_CHANCE} points (${fmt(100 / K + 100 * USELESS_OVER_CHANCE)}%) and within ${100 * USELESS_DROP} points of w*'s`
  if (useful) return { useful, note: `The released model keeps ${(100 * released.testAccuracy).toFixed(2)}% test accuracy (w*: ${(100 * before.testAccuracy).toFixed(2)}%) at σ = ${fmt(cert.sigma)}; ${rule}.`, epsilonForUseful: c.epsilon }
  const accuracyAt = (sigma: number): number => {
    const params = paramsFromVector(model, cert.layout, releasedVector(cert.step.wMinus, sigma, c.seed))
    try {
      return accuracyOf(predictLogits(model, params, inputs.test), inputs.test.labels, K)
    } finally {
      disposeParams(params)
    }
  }
  const ok = (sigma: number): boolean => isUseful({ ...released, testAccuracy: accuracyAt(sigma) }, before, K)
  let lo = Math.log(1e-12)
  let hi = Math.log(cert.sigma)
  let found: number | null = null
  if (ok(Math.exp(lo))) {
    for (let i = 0; i < 30; i++) {
      const mid = (lo + hi) / 2
      if (ok(Math.exp(mid))) lo = mid
      else hi = mid
    }
    found = Math.exp(lo)
  }
  const eps = found === null ? null : epsilonFor(cert.sensitivity.value, found, c.delta)
  const epsilonForUseful = eps !== null && eps <= 1000 ? eps : null
  const note =
    `Not useful: at σ = ${fmt(cert.sigma)} (Δ = ${fmt(cert.sensitivity.value)}, ε = ${fmt(c.epsilon)}, δ = ${fmt(c.delta)}) the released model has ${(100 * released.testAccuracy).toFixed(2)}% test accuracy against w*'s ${(100 * before.testAccuracy).toFixed(2)}% (${rule}). ` +
    (found === null
      ? 'Even σ = 1e-12 is not useful: the Newton step itself loses the accuracy (see w⁻).'
      : `The noise would have to be at most σ ≈ ${fmt(found)}, which this Δ reaches only at ε ≈ ${fmt(eps!)}${epsilonForUseful === null ? ' (a meaningless guarantee)' : ''}. To do better, lower Δ: a smaller norm bound C (Δ grows with C²), a larger λ, or inputs with a smaller norm.`)
  return { useful, note, epsilonForUseful }
}

async function privacyCertify(ctx: JobContext<PrivacyCertifyConfig>): Promise<void> {
  const c = ctx.config
  const started = performance.now()
  const inputs = await loadPrivacyInputs(ctx.store, c.trainRunId, c.protect)
  const { saved, sets, test } = inputs
  const model = saved.model
  const cleanup: ClassifierParams[] = []
  try {
    const layout = paramLayout(model)
    const wStar = flattenParams(saved.params, layout)
    ctx.log('info', `Certifying run ${c.trainRunId}'s ${model.kind} (${wStar.length.toLocaleString('en')} parameters): |D_f| = ${sets.forget.labels.length}, |D_r| = ${sets.retain.labels.length}, θ = ${c.objective.theta}, λ = ${c.objective.lambda}, ε = ${c.epsilon}, δ = ${c.delta}.`)
    const progress = (message: string, done: number, total: number): void => ctx.progress({ unit: 'steps', done, total, message })
    const cert = certify(model, sets, wStar, c, progress)
    ctx.log('info', `Newton step: ${cert.step.solver.method}, ${cert.step.solver.iterations} iterations, relative residual ${cert.step.solver.relativeResidual.toExponential(2)}, λ_min ${fmt(cert.step.lambdaMin.value)} (${cert.step.lambdaMin.method}), ${cert.step.seconds.toFixed(1)} s.`)
    ctx.log('info', `Δ = ${cert.sensitivity.formula}; σ = ${fmt(cert.sigma)}.`)
    const wTilde = releasedVector(cert.step.wMinus, cert.sigma, c.seed)
    const newtonParams = paramsFromVector(model, layout, cert.step.wMinus)
    const releasedParams = paramsFromVector(model, layout, wTilde)
    cleanup.push(newtonParams, releasedParams)
    progress('measuring w*, w⁻ and the released model', 0, 1)
    const before = modelReport(model, saved.params, sets, test)
    const newtonModel = modelReport(model, newtonParams, sets, test)
    const released = modelReport(model, releasedParams, sets, test)
    const use = usefulness(inputs, cert, c, before, released)
    if (!use.useful) ctx.log('warn', use.note)

    const sweep: TradeoffPoint[] = []
    for (const [i, theta] of c.sweep.entries()) {
      if (ctx.cancelled()) return
      progress(`trade-off: θ = ${theta} (${i + 1} of ${c.sweep.length})`, i, c.sweep.length)
      const tuned = await paretoFinetune(model, saved.params, sets, {
        ...SWEEP_TUNING,
        objective: { ...c.objective, theta },
        surgery: false,
        projectNorm: c.normBound,
        retainFloor: 0,
        seed: c.seed,
        cancelled: ctx.cancelled,
      })
      try {
        sweep.push(tradeoffPoint(theta, modelReport(model, tuned.params, sets, test), before, cert.constants))
      } finally {
        disposeParams(tuned.params)
      }
    }
    if (ctx.cancelled()) return
    progress('attacking the released model on D_f', 0, 1)
    const attacks = runAttacks(model, releasedParams, sets.forget, c.attacks)

    const dir = join(ctx.store.runDir(ctx.runId), CERTIFICATE_DIR)
    const o = c.objective
    const draft: CertificateDraft = {
      created: new Date().toISOString(),
      epsilon: c.epsilon,
      delta: c.delta,
      theta: o.theta,
      lambda: o.lambda,
      lossK: o.lossK,
      temperature: o.temperature,
      sensitivity: cert.sensitivity,
      sigma: cert.sigma,
      seed: c.seed,
      constants: { ...cert.constants },
      newton: {
        method: cert.step.solver.method,
        iterations: cert.step.solver.iterations,
        residual: cert.step.solver.relativeResidual,
        errorBound: cert.solverErrorBound,
        lambdaMin: cert.step.lambdaMin.value,
        lambdaMinMethod: cert.step.lambdaMin.method,
        shift: cert.step.shift,
      },
      solver: c.solver,
      estimator: cert.estimator,
      dataHashes: inputs.dataHashes,
      dataset: {
        id: inputs.dataset.id,
        name: inputs.dataset.name,
        path: inputs.dataset.path,
        sha256: inputs.dataset.sha256,
        split: inputs.dataset.split,
        classes: inputs.classes,
      },
      protected: inputs.protected,
      model: { kind: model.kind, config: saved.config.modelConfig, shape: model.shape, classes: saved.config.classes, parameters: wStar.length },
      trainRunId: c.trainRunId,
      useful: use.useful,
      usefulness: use.note,
      caveats: [
        ...gaussianCaveats(c.epsilon),
        ...Object.entries(cert.constants)
          .filter(([, k]) => k.provenance === 'estimated')
          .map(([name, k]) => `${name} is estimated, not bounded: ${k.method} The (ε, δ) guarantee holds only if it is not exceeded anywhere in ‖w‖ ≤ C.`),
      ],
    }
    const savedConfig = { ...saved.config, runId: ctx.runId }
    const parts = { json: draft, wStar, wMinus: cert.step.wMinus, released: { config: savedConfig, params: releasedParams }, layout, protectedIndices: inputs.forgetIndices, report: { before, newtonModel, released, sweep, attacks } }
    writeCertificateFolder(dir, parts)
    if (c.outDir !== undefined) writeCertificateFolder(c.outDir, parts)
    const row = insertCertificate(ctx.store.db, { runId: ctx.runId, trainRunId: c.trainRunId, dir, model: model.kind, epsilon: c.epsilon, delta: c.delta, sigma: cert.sigma, sensitivity: cert.sensitivity.value, useful: use.useful })
    const result: PrivacyCertifyResult = {
      certificateId: row.id,
      dir,
      protected: inputs.protected,
      classes: inputs.classes,
      epsilon: c.epsilon,
      delta: c.delta,
      sensitivity: cert.sensitivity.value,
      sigma: cert.sigma,
      constants: { ...cert.constants },
      newton: {
        method: cert.step.solver.method,
        iterations: cert.step.solver.iterations,
        relativeResidual: cert.step.solver.relativeResidual,
        lambdaMin: cert.step.lambdaMin.value,
        lambdaMinMethod: cert.step.lambdaMin.method,
        shift: cert.step.shift,
        seconds: cert.step.seconds,
      },
      before,
      newtonModel,
      released,
      useful: use.useful,
      usefulness: { note: use.note, epsilonForUseful: use.epsilonForUseful },
      sweep,
      attacks,
      seconds: (performance.now() - started) / 1000,
    }
    writeFileAtomic(join(ctx.store.runDir(ctx.runId), PRIVACY_RESULT_FILE), Buffer.from(JSON.stringify(result) + '\n'))
    ctx.store.addMetrics(ctx.runId, 0, { sigma: cert.sigma, sensitivity: cert.sensitivity.value, released_test_accuracy: released.testAccuracy, released_forget_distance: released.forget.distance })
    ctx.progress({ unit: 'steps', done: 1, total: 1, message: `certificate #${row.id}: σ = ${fmt(cert.sigma)}${use.useful ? '' : ' (not useful: see the note)'}` })
  } finally {
    for (const p of cleanup) disposeParams(p)
    saved.dispose()
  }
}

export const privacyCertifyJob = defineJob('privacy-certify', PrivacyCertifyConfig, privacyCertify)
