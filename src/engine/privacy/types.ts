// The contract between the pieces of test-time privacy (docs/privacy.md): the objective, the
// curvature (gradient, Hessian operator, Newton step), the constants and bounds of the
// certificate, Pareto fine-tuning, the attacks, and the jobs that run them. Every piece imports
// its shared types from here, so each can be read (and tested) on its own.
//
// Conventions:
// - A classifier's trainable parameters as ONE vector w ∈ R^P: the weights in the order of
//   model.init(…).weights' keys, each tensor row-major (paramLayout). BatchNorm buffers are not
//   part of w (the certified path supports classifiers without BatchNorm: logreg and MLP).
// - Float64Array for every vector the certificate is computed from (w*, g, H⁻¹g, w⁻, noise, w̃);
//   tfjs (float32) only inside forwards and backwards, accumulated into float64.
// - Images as stored: uint8 bytes, scaled by PIXEL_SCALE (1/255) at use; pixel range [0, 1].

/** Labelled images as bytes, n × height × width × channels, channels last (the datasets' cache form). */
export interface LabelledRows {
  images: Uint8Array
  labels: Uint8Array
  height: number
  width: number
  channels: number
}

/** The two sets the objective is over: D_f (protected, "forget") and D_r (the rest of the training split). */
export interface PrivacySets {
  forget: LabelledRows
  retain: LabelledRows
}

/** L_K, the uncertainty loss on D_f: KL(softmax ‖ U) (default), KL(U ‖ softmax), or ‖softmax − U‖². */
export type UncertaintyLoss = 'forward-kl' | 'reverse-kl' | 'squared'

/** F(w) = θ·L_K(w, D_f) + (1 − θ)·L_A(w, D_r) + (λ/2)‖w‖², logits divided by `temperature`. */
export interface ObjectiveConfig {
  theta: number
  lambda: number
  lossK: UncertaintyLoss
  /** Logits are divided by this inside F (the official code uses 2 for MNIST fine-tuning; 1 = none). */
  temperature: number
}

/** Where one named parameter tensor sits in the flat vector w. */
export interface ParamSlot {
  name: string
  shape: number[]
  offset: number
  size: number
}

/** F's parts at one w (each a mean over its set, as in the objective). */
export interface ObjectiveValue {
  total: number
  lossK: number
  lossA: number
  regulariser: number
}

/**
 * The Hessian of F at w*, as an operator. `apply` is exact (closed form or an exact
 * Hessian-vector product) for the kinds that have a curvature module; `dense` is offered when P
 * is small enough to hold P×P float64 (row-major).
 */
export interface HessianOperator {
  size: number
  apply(v: Float64Array): Float64Array
  dense?(): Float64Array
  /** How apply computes (e.g. "closed form, float64", "Pearlmutter R-op, float32 products, float64 sums"). */
  method: string
}

/** The smallest eigenvalue of sym(H) and how it was found. */
export interface Eigenvalue {
  value: number
  /** "exact (dense eigen-decomposition)", "Lanczos, 60 steps, residual 1e-7", "bounded (convex: ≥ λ)". */
  method: string
}

/** One Newton step from w* on the made-positive-definite Hessian. */
export interface NewtonStep {
  /** w⁻ = w* − H_pd⁻¹ g */
  wMinus: Float64Array
  /** g = ∇F(w*) */
  gradient: Float64Array
  lambdaMin: Eigenvalue
  /** The shift added to make H positive definite (0 when λ_min ≥ 0). */
  shift: number
  solver: {
    method: 'cholesky' | 'cg'
    iterations: number
    /** ‖H_pd x − g‖ of the returned x, and that over ‖g‖. */
    residualNorm: number
    relativeResidual: number
    /** A bound on ‖x − H_pd⁻¹g‖: residualNorm / (smallest eigenvalue of H_pd). */
    errorBound: number
  }
  seconds: number
}

/** How a constant of the certificate was obtained. */
export type Provenance = 'computed' | 'bounded' | 'estimated' | 'assumed'

export interface CertificateConstant {
  value: number
  provenance: Provenance
  /** One sentence: the formula or the estimator and its sample (shown in the report). */
  method: string
}

/** The constants the sensitivity Δ and the trade-off bound are made of. */
export interface CertificateConstants {
  /** Lipschitz constants of L_K and L_A in w (bounds on the per-example gradient norms). */
  L_K: CertificateConstant
  L_A: CertificateConstant
  /** Lipschitz constants of the Hessians of L_K and L_A in w. */
  M_K: CertificateConstant
  M_A: CertificateConstant
  /** The parameter-norm bound ‖w‖ ≤ C (set by the user; ‖w*‖ and ‖w⁻‖ are checked against it). */
  C: CertificateConstant
  lambda: CertificateConstant
  lambdaMin: CertificateConstant
  /** |D_f|, |D_r|, P. */
  nForget: CertificateConstant
  nRetain: CertificateConstant
  parameters: CertificateConstant
  /** max ‖[x; 1]‖ over the data (the analytic bounds' input). */
  inputNorm: CertificateConstant
}

/** Δ: a bound on ‖w⁻ − w_θ‖ (w_θ the exact θ-Pareto minimiser), with its terms. */
export interface Sensitivity {
  value: number
  /** 'convex': 2C²M/λ; 'nonconvex': 2C(MC+λ)/(λ+λ_min); plus the solver's error bound. */
  form: 'convex' | 'nonconvex'
  terms: Record<string, number>
  formula: string
}

/** Per-epoch record of Pareto fine-tuning (Algorithm 1). */
export interface ParetoEpoch {
  epoch: number
  objective: ObjectiveValue
  /** Mean over D_f of max(0, max_c p_c − 1/|Y|). */
  forgetDistance: number
  forgetAccuracy: number
  retainAccuracy: number
  testAccuracy: number | null
  /** ‖w‖ after the step (and the projection, when on). */
  weightNorm: number
  /** Fraction of steps in the epoch whose two gradients conflicted (negative inner product). */
  conflicts: number
  seconds: number
}

/** One attack's outcome on D_f (attacks.ts). */
export interface AttackResult {
  kind: 'gaussian' | 'fgsm' | 'pgd'
  /** L∞ radius (FGSM, PGD) or noise scale (Gaussian), in pixel units of [0, 1]. */
  radius: number
  steps: number
  stepSize: number
  /** Confidence distance on D_f before and after the attack. */
  distanceBefore: number
  distanceAfter: number
  /** Fraction of D_f whose max probability exceeds `confidentAbove` after the attack. */
  confidentFraction: number
  confidentAbove: number
}
