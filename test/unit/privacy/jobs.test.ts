// The privacy jobs end to end on a real store and the real job queue, with classifiers trained by
// the app on the planted 8×8 set:
// - privacy-certify on logistic regression with the reverse-KL loss (strongly convex): the
//   certificate's w⁻ equals ONE Newton step computed here in float64 from the stored data by
//   hand-written loops (gradient and Hessian of F in closed form, Gaussian elimination); the
//   constants and σ equal the formulas evaluated here; the released weights are w⁻ + σ·noise;
//   verification passes, and fails when any stored number is altered.
// - privacy-certify on the MLP (non-convex: estimated constants, the non-convex bound), verified.
// - privacy-finetune lowers the forget distance ≥ 3× keeping retain accuracy, with a sweep.
// - privacy-attack on a certificate's released model.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { loadImageSplit } from '../../../src/data/images/registry.js'
import { SafetensorsFile, writeSafetensors } from '../../../src/engine/safetensors.js'
import type { Run } from '../../../src/shared/api.js'
import type { CertificateJson } from '../../../src/jobs/privacy/certificate-json.js'
import type { PrivacyRunState } from '../../../src/shared/privacy.js'

type Certificate = CertificateJson & { constants: Record<string, { value: number }> }
import { sha256File } from '../../../src/store/files.js'
import { runEnded } from '../../helpers/jobs.js'
import { CLASSES, SIDE, writePlantedIdx } from '../classify/planted.js'

const root = mkdtempSync(join(tmpdir(), 'mxd-privacy-jobs-'))
let b: Backend
let datasetId: number
let logreg: number
let mlp: number

const ended = (id: number): Promise<Run> => runEnded(b.ctx.store, id)

async function succeeded(id: number): Promise<PrivacyRunState> {
  const run = await ended(id)
  expect(run.status, run.error ?? '').toBe('succeeded')
  return b.call('privacy.get', { runId: id })
}

async function train(model: 'logreg' | 'mlp', modelConfig: Record<string, unknown>): Promise<number> {
  const { runId } = await b.call('classify.start', { data: datasetId, model, modelConfig, epochs: 4, batch: 16, seed: 1, optimizer: { kind: 'adamw', lr: 0.01 } })
  const run = await ended(runId)
  expect(run.status, run.error ?? '').toBe('succeeded')
  return runId
}

beforeAll(async () => {
  b = await Backend.create({ storeDir: join(root, 'store') })
  datasetId = (await b.call('images.add', { path: writePlantedIdx(join(root, 'planted'), { train: 40, test: 10 }) })).id
  logreg = await train('logreg', {})
  mlp = await train('mlp', { hidden: 6 })
}, 300_000)
afterAll(async () => {
  await b.close()
  rmSync(root, { recursive: true, force: true })
})

// ------------------------------------------------------------ float64 reference (independent)

/**
 * One Newton step of F for logistic regression with reverse-KL L_K, by hand. With z = Wᵀx̃ both
 * reverse KL (−log K − mean_c log p_c) and cross-entropy have logit gradient p − t (t uniform on
 * D_f, one-hot on D_r) and logit Hessian diag(p) − ppᵀ, so
 *   ∇F = Σ_i c_i (p_i − t_i) ⊗ x̃_i + λw,   ∇²F = Σ_i c_i (diag p_i − p_i p_iᵀ) ⊗ x̃_i x̃_iᵀ + λI,
 * c_i = θ/|D_f| or (1−θ)/|D_r|. w is laid out as head.weight [D, K] row-major, then head.bias [K].
 */
function newtonReference(w: Float64Array, forget: Float64Array[], retain: { x: Float64Array; y: number }[], K: number, theta: number, lambda: number): Float64Array {
  const D = forget[0]!.length
  const P = D * K + K
  const g = new Float64Array(P)
  const H = new Float64Array(P * P)
  const idx = (d: number, c: number): number => (d < D ? d * K + c : D * K + c) // d = D is the bias input 1
  const rows = [
    ...forget.map((x) => ({ x, t: new Array<number>(K).fill(1 / K), c: theta / forget.length })),
    ...retain.map(({ x, y }) => ({ x, t: Array.from({ length: K }, (_, k) => (k === y ? 1 : 0)), c: (1 - theta) / retain.length })),
  ]
  for (const { x, t, c } of rows) {
    const xt = [...x, 1]
    const z = Array.from({ length: K }, (_, k) => xt.reduce((s, xd, d) => s + xd * w[idx(d, k)]!, 0))
    const m = Math.max(...z)
    const e = z.map((v) => Math.exp(v - m))
    const sum = e.reduce((a, v) => a + v, 0)
    const p = e.map((v) => v / sum)
    for (let d = 0; d <= D; d++) for (let k = 0; k < K; k++) g[idx(d, k)]! += c * (p[k]! - t[k]!) * xt[d]!
    for (let d1 = 0; d1 <= D; d1++) {
      for (let k1 = 0; k1 < K; k1++) {
        const r = idx(d1, k1)
        for (let d2 = 0; d2 <= D; d2++) {
          const xx = c * xt[d1]! * xt[d2]!
          if (xx === 0) continue
          for (let k2 = 0; k2 < K; k2++) H[r * P + idx(d2, k2)]! += xx * ((k1 === k2 ? p[k1]! : 0) - p[k1]! * p[k2]!)
        }
      }
    }
  }
  for (let i = 0; i < P; i++) {
    g[i]! += lambda * w[i]!
    H[i * P + i]! += lambda
  }
  // Solve H s = g by Gaussian elimination with partial pivoting.
  const A = H
  const s = Float64Array.from(g)
  for (let col = 0; col < P; col++) {
    let piv = col
    for (let r = col + 1; r < P; r++) if (Math.abs(A[r * P + col]!) > Math.abs(A[piv * P + col]!)) piv = r
    if (piv !== col) {
      for (let k = 0; k < P; k++) [A[col * P + k], A[piv * P + k]] = [A[piv * P + k]!, A[col * P + k]!]
      ;[s[col], s[piv]] = [s[piv]!, s[col]!]
    }
    for (let r = col + 1; r < P; r++) {
      const f = A[r * P + col]! / A[col * P + col]!
      if (f === 0) continue
      for (let k = col; k < P; k++) A[r * P + k]! -= f * A[col * P + k]!
      s[r]! -= f * s[col]!
    }
  }
  for (let r = P - 1; r >= 0; r--) {
    let acc = s[r]!
    for (let k = r + 1; k < P; k++) acc -= A[r * P + k]! * s[k]!
    s[r] = acc / A[r * P + r]!
  }
  return Float64Array.from(w, (v, i) => v - s[i]!)
}

function readVector(path: string): Float64Array {
  const f = SafetensorsFile.open(path)
  try {
    return Float64Array.from([...f.readFloat64('head.weight'), ...f.readFloat64('head.bias')])
  } finally {
    f.close()
  }
}

const relErr = (a: ArrayLike<number>, e: ArrayLike<number>): number => {
  let num = 0
  let den = 0
  for (let i = 0; i < e.length; i++) {
    num += (a[i]! - e[i]!) ** 2
    den += e[i]! ** 2
  }
  return Math.sqrt(num / den)
}

async function verify(dir: string): Promise<NonNullable<PrivacyRunState['verify']>> {
  const { runId } = await b.call('privacy.verify', { certificate: { dir } })
  return (await succeeded(runId)).verify!
}

// ------------------------------------------------------------------------------------ tests

describe('privacy-certify, logistic regression (strongly convex)', () => {
  const theta = 0.75
  const lambda = 0.05
  const C = 60
  let cert: NonNullable<PrivacyRunState['certify']>

  beforeAll(async () => {
    const { runId } = await b.call('privacy.certify', {
      trainRunId: logreg,
      protect: { by: 'class', class: 1, count: 6, seed: 2 },
      objective: { theta, lambda, lossK: 'reverse-kl' },
      normBound: C,
      epsilon: 1,
      delta: 1e-5,
      seed: 7,
      sweep: [0.25, 0.5],
      attacks: { fgsm: { radius: 0.1 }, pgd: { radius: 0.1, steps: 5, stepSize: 0.02 } },
    })
    cert = (await succeeded(runId)).certify!
  }, 300_000)

  it("stores w⁻ equal to an independent float64 Newton step on the stored data, and σ from the formula", async () => {
    const dir = cert.dir
    const json = JSON.parse(readFileSync(join(dir, 'certificate.json'), 'utf8'))
    const forgetIdx: number[] = JSON.parse(readFileSync(join(dir, 'protected.json'), 'utf8')).forget
    expect(forgetIdx).toHaveLength(6)
    const split = await loadImageSplit(b.ctx.store, datasetId, 'train')
    const D = SIDE * SIDE
    const x = (i: number): Float64Array => Float64Array.from(split.images.subarray(i * D, (i + 1) * D), (v) => v / 255)
    const inForget = new Set(forgetIdx)
    expect(forgetIdx.every((i) => split.labels[i] === 1)).toBe(true)
    const retain = [...split.labels.keys()].filter((i) => !inForget.has(i)).map((i) => ({ x: x(i), y: split.labels[i]! }))
    const wStar = readVector(join(dir, 'w-star.safetensors'))
    const expected = newtonReference(wStar, forgetIdx.map(x), retain, CLASSES, theta, lambda)
    const wMinus = readVector(join(dir, 'w-minus.safetensors'))
    expect(relErr(wMinus, expected)).toBeLessThan(1e-4)
    expect(relErr(wMinus, wStar)).toBeGreaterThan(1e-3) // the step moved: the check is not vacuous

    // Constants and σ by the formulas (docs/privacy.md): R = max ‖[x; 1]‖; reverse KL and CE have
    // third-derivative constant 1/√2 and gradient constants √(1 − 1/K) and √2.
    let R = 0
    for (let i = 0; i < split.labels.length; i++) R = Math.max(R, Math.hypot(...x(i), 1))
    expect(json.constants.inputNorm.value).toBeCloseTo(R, 10)
    const M = (1 / Math.SQRT2) * R ** 3
    expect(json.constants.M_A.value).toBeCloseTo(M, 6)
    expect(json.constants.M_K.value).toBeCloseTo(M, 6)
    expect(json.constants.L_A.value).toBeCloseTo(Math.SQRT2 * R, 8)
    expect(json.constants.L_K.value).toBeCloseTo(Math.sqrt(1 - 1 / CLASSES) * R, 8)
    expect(json.sensitivity.form).toBe('convex')
    const delta = 2 * C * C * M / lambda
    expect(json.sensitivity.value / delta - 1).toBeLessThan(1e-9) // plus the solver's (tiny) error bound
    expect(json.sensitivity.value).toBeGreaterThanOrEqual(delta)
    const sigma = (json.sensitivity.value / 1) * Math.sqrt(2 * Math.log(1.25 / 1e-5))
    expect(Math.abs(json.sigma / sigma - 1)).toBeLessThan(1e-12)
    expect(cert.sigma).toBe(json.sigma)
    // With the honest constants σ is enormous: the certificate says the model is useless, with numbers.
    expect(cert.useful).toBe(false)
    expect(cert.usefulness.note).toMatch(/Not useful: at σ = /)
    expect(cert.released.testAccuracy).toBeLessThan(cert.before.testAccuracy)
    expect(cert.sweep.map((p) => p.theta)).toEqual([0.25, 0.5])
    expect(cert.attacks.map((a) => a.kind)).toEqual(['fgsm', 'pgd'])
    const listed = await b.call('privacy.listCertificates', {})
    expect(listed.find((c) => c.id === cert.certificateId)).toMatchObject({ status: 'issued', epsilon: 1, sigma: cert.sigma, useful: false })
  })

  it('verifies: every recomputed number matches, and the row is marked verified', async () => {
    const { runId } = await b.call('privacy.verify', { certificate: { id: cert.certificateId } })
    const v = (await succeeded(runId)).verify!
    expect(v.checks.filter((c) => !c.pass)).toEqual([])
    expect(v.pass).toBe(true)
    expect(v.checks.length).toBeGreaterThan(20)
    const row = (await b.call('privacy.listCertificates', {})).find((c) => c.id === cert.certificateId)
    expect(row?.status).toBe('verified')
  })

  it('fails verification when any stored number is altered', async () => {
    const alter = async (name: string, edit: (json: Certificate) => void, failing: RegExp): Promise<void> => {
      const copy = join(root, `tampered-${name}`)
      cpSync(cert.dir, copy, { recursive: true })
      const path = join(copy, 'certificate.json')
      const json = JSON.parse(readFileSync(path, 'utf8'))
      edit(json)
      writeFileSync(path, JSON.stringify(json))
      const v = await verify(copy)
      expect(v.pass, name).toBe(false)
      expect(v.checks.filter((c) => !c.pass).map((c) => c.name).join(' | '), name).toMatch(failing)
    }
    await alter('sigma', (j) => (j.sigma *= 1.001), /σ/)
    await alter('sensitivity', (j) => (j.sensitivity.value *= 0.5), /sensitivity Δ/)
    await alter('constant', (j) => (j.constants.M_A!.value *= 0.9), /constant M_A/)
    await alter('epsilon', (j) => (j.epsilon = 2), /σ/)
    await alter('lambda', (j) => (j.lambda = 0.07), /w⁻/)
    // A norm bound below ‖w*‖: the computation refuses, and that is a failed check, not a crash.
    await alter('norm bound', (j) => (j.constants.C!.value = 1e-3), /accepts the stored settings/)

    // w⁻ altered with its hash rewritten (so the file check passes): the recomputed step disagrees.
    const copy = join(root, 'tampered-w-minus')
    cpSync(cert.dir, copy, { recursive: true })
    const f = SafetensorsFile.open(join(copy, 'w-minus.safetensors'))
    const weight = f.readFloat64('head.weight')
    const bias = f.readFloat64('head.bias')
    const shapes = [f.info('head.weight').shape, f.info('head.bias').shape]
    f.close()
    weight[0]! += 0.01
    writeSafetensors(join(copy, 'w-minus.safetensors'), { 'head.weight': { dtype: 'F64', shape: [...shapes[0]!], data: weight }, 'head.bias': { dtype: 'F64', shape: [...shapes[1]!], data: bias } }, { format: 'mxd-privacy-certificate' })
    const path = join(copy, 'certificate.json')
    const json = JSON.parse(readFileSync(path, 'utf8'))
    json.model.files.wMinus = sha256File(join(copy, 'w-minus.safetensors'))
    writeFileSync(path, JSON.stringify(json))
    const v = await verify(copy)
    expect(v.pass).toBe(false)
    expect(v.checks.filter((c) => !c.pass).map((c) => c.name).join(' | ')).toMatch(/w⁻.*|released weights/)

    // Bytes altered without rewriting the hash: the file check fails, and the certificate's row says so.
    const { runId } = await b.call('privacy.verify', { certificate: { id: cert.certificateId } })
    expect((await succeeded(runId)).verify!.pass).toBe(true)
    const bytes = readFileSync(join(cert.dir, 'w-star.safetensors'))
    const original = Buffer.from(bytes)
    bytes[bytes.length - 5]! ^= 0x10
    writeFileSync(join(cert.dir, 'w-star.safetensors'), bytes)
    try {
      const { runId: again } = await b.call('privacy.verify', { certificate: { id: cert.certificateId } })
      const broken = (await succeeded(again)).verify!
      expect(broken.pass).toBe(false)
      expect(String(broken.checks.find((c) => !c.pass)!.recomputed)).toMatch(/w-star\.safetensors does not match certificate\.json/)
      expect((await b.call('privacy.listCertificates', {})).find((c) => c.id === cert.certificateId)?.status).toBe('failed')
    } finally {
      writeFileSync(join(cert.dir, 'w-star.safetensors'), original)
    }
  }, 300_000)

  it('attacks the released model of a certificate', async () => {
    const { runId } = await b.call('privacy.attack', { target: { certificateId: cert.certificateId }, attacks: { gaussian: { radius: 0.05 } } })
    const a = (await succeeded(runId)).attack!
    expect(a.attacks).toHaveLength(1)
    expect(a.attacks[0]).toMatchObject({ kind: 'gaussian', radius: 0.05 })
  })
})

describe('privacy-certify, MLP (non-convex)', () => {
  // The non-convex bound needs λ > −λ_min (about 1 here): below it the job refuses, with the numbers.
  it('certifies with estimated constants and the non-convex bound, and verifies', async () => {
    const { runId } = await b.call('privacy.certify', {
      trainRunId: mlp,
      protect: { by: 'random', count: 5, seed: 3 },
      objective: { theta: 0.5, lambda: 2, lossK: 'forward-kl' },
      normBound: 100,
      epsilon: 1,
      delta: 1e-5,
    })
    const cert = (await succeeded(runId)).certify!
    expect(Object.values(cert.constants).filter((k) => k.provenance === 'estimated').length).toBeGreaterThanOrEqual(4)
    const json = JSON.parse(readFileSync(join(cert.dir, 'certificate.json'), 'utf8'))
    expect(json.sensitivity.form).toBe('nonconvex')
    expect(json.caveats.join(' ')).toMatch(/estimated, not bounded/)
    const v = await verify(cert.dir)
    expect(v.checks.filter((c) => !c.pass)).toEqual([])
  }, 300_000)
})

describe('privacy-finetune', () => {
  it('lowers the forget distance at least 3× and keeps retain accuracy, with a θ sweep', async () => {
    const { runId } = await b.call('privacy.finetune', {
      trainRunId: logreg,
      protect: { by: 'class', class: 2, count: 6 },
      objective: { theta: 0.9, lambda: 1e-3 },
      lr: 0.05,
      epochs: 40,
      retainFloor: 0.9,
      sweep: [0.5],
      attacks: { fgsm: { radius: 0.05 } },
    })
    const r = (await succeeded(runId)).finetune!
    expect(r.after.forget.distance * 3).toBeLessThan(r.before.forget.distance)
    expect(r.after.retainAccuracy).toBeGreaterThanOrEqual(0.9)
    expect(r.epochs.length).toBe(41)
    expect(r.sweep.map((p) => p.theta)).toEqual([0.5, 0.9])
    expect(r.attacks[0]!.kind).toBe('fgsm')
    // The kept model is a classifier folder the app reloads: attack it as a run.
    const { runId: attackRun } = await b.call('privacy.attack', { target: { runId }, attacks: { fgsm: { radius: 0.05 } } })
    const a = (await succeeded(attackRun)).attack!
    expect(a.attacks[0]!.distanceBefore).toBeCloseTo(r.after.forget.distance, 5)
  }, 300_000)
})
