// certificate.json of a certificate folder (README, "Certificate folder"; certificate.ts writes and
// reads the folder, report-html.ts renders it): the schema on its own, so both can import it.
import { z } from 'zod'
import pkg from '../../../package.json' with { type: 'json' }
import { Constant, ProtectedSetInfo, UncertaintyLossName } from '../../shared/privacy.js'

export const CERTIFICATE_FORMAT = 'mxd-privacy-certificate'
export const SOFTWARE_VERSION: string = pkg.version

export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/)
const Slot = z.object({
  name: z.string(),
  shape: z.array(z.number().int().min(0)),
  offset: z.number().int().min(0),
  size: z.number().int().min(0),
})

/** certificate.json. */
export const CertificateJson = z.object({
  format: z.literal(CERTIFICATE_FORMAT),
  version: z.literal(1),
  software: z.object({ name: z.string(), version: z.string() }),
  created: z.string(),
  /** (ε, δ) of the Gaussian mechanism, θ and λ of the objective, L_K and the temperature inside F. */
  epsilon: z.number(),
  delta: z.number(),
  theta: z.number(),
  lambda: z.number(),
  lossK: UncertaintyLossName,
  temperature: z.number(),
  /** Δ, the bound on ‖w⁻ − w_θ‖, with the form of the bound and its terms. */
  sensitivity: z.object({
    value: z.number(),
    form: z.enum(['convex', 'nonconvex']),
    terms: z.record(z.string(), z.number()),
    formula: z.string(),
  }),
  /** σ = (Δ/ε)·√(2 ln(1.25/δ)), and the seed of the noise N(0, σ²I) (verification regenerates it). */
  sigma: z.number(),
  seed: z.number().int(),
  constants: z.record(z.string(), Constant),
  newton: z.object({
    method: z.string(),
    iterations: z.number().int(),
    /** ‖H_pd x − g‖ / ‖g‖ of the solve. */
    residual: z.number(),
    /** A bound on ‖x − H_pd⁻¹g‖ (included in Δ). */
    errorBound: z.number(),
    lambdaMin: z.number(),
    lambdaMinMethod: z.string(),
    shift: z.number(),
  }),
  /** How the Newton step was solved (verification solves it the same way). */
  solver: z.object({ method: z.enum(['auto', 'cholesky', 'cg']), denseLimit: z.number().int(), tolerance: z.number(), maxIterations: z.number().int() }),
  /** The MLP's estimated Hessian-Lipschitz constants: random directions, their radius and seed (null for bounded constants). */
  estimator: z.object({ samples: z.number().int(), radius: z.number(), seed: z.number().int() }).nullable(),
  /** sha256 of each set's pixel bytes then label bytes, as the job read them: D_f, D_r and the test split. */
  dataHashes: z.object({ forget: Sha256, retain: Sha256, test: Sha256 }),
  dataset: z.object({
    id: z.number().int(),
    name: z.string(),
    path: z.string(),
    sha256: z.string(),
    /** The split as the dataset records it: the protected indices are into its training split. */
    split: z.object({ validationFraction: z.number(), testFraction: z.number().nullable(), seed: z.number().int() }),
    classes: z.array(z.string()),
  }),
  protected: ProtectedSetInfo,
  model: z.object({
    kind: z.string(),
    config: z.record(z.string(), z.unknown()),
    shape: z.object({ height: z.number().int(), width: z.number().int(), channels: z.number().int(), classes: z.number().int() }),
    classes: z.array(z.string()),
    parameters: z.number().int(),
    /** Where each named tensor sits in the flat vector w (engine/privacy/types.ts ParamSlot). */
    layout: z.array(Slot),
    /** sha256 of w-star.safetensors, w-minus.safetensors and released/model.safetensors. */
    files: z.object({ wStar: Sha256, wMinus: Sha256, released: Sha256 }),
  }),
  trainRunId: z.number().int(),
  useful: z.boolean(),
  usefulness: z.string(),
  caveats: z.array(z.string()),
})
export type CertificateJson = z.infer<typeof CertificateJson>
