// The certificate folder on a real temp dir: written and read back exactly (float64 vectors bit
// for bit, values float32 cannot hold included), F64 safetensors checked byte by byte against an
// encoding built here, a tampered weights file / protected set / certificate.json refused with the
// file named, and the report page escaping a hostile class name.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../../src/engine/backend.js'
import { createClassifier } from '../../../src/engine/classifiers/registry.js'
import type { ParamSlot } from '../../../src/engine/privacy/types.js'
import { SafetensorsFile, writeSafetensors } from '../../../src/engine/safetensors.js'
import { readCertificateFolder, writeCertificateFolder, type CertificateDraft } from '../../../src/jobs/privacy/certificate.js'
import { protectedInfo, selectProtected } from '../../../src/jobs/privacy/protected.js'
import { ProtectSpec, type ModelReport } from '../../../src/shared/privacy.js'

const root = mkdtempSync(join(tmpdir(), 'mxd-certificate-'))
beforeAll(async () => {
  await initBackend()
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

const shape = { height: 2, width: 2, channels: 1, classes: 3 }
const CLASSES = ['<script>alert(1)</script>', 'b&w', '"quoted"']

function draft(layout: ParamSlot[]): CertificateDraft {
  const labels = Uint8Array.from({ length: 12 }, (_, i) => i % 3)
  const spec = ProtectSpec.parse({ by: 'class', class: 0 })
  const sel = selectProtected(labels, 3, spec)
  return {
    created: '2026-12-06T00:00:00.000Z',
    epsilon: 1,
    delta: 1e-5,
    theta: 0.75,
    lambda: 0.001,
    lossK: 'forward-kl',
    temperature: 1,
    sensitivity: { value: 0.123456789, form: 'convex', terms: { C: 2, M: 0.25 }, formula: '2C²M/λ' },
    sigma: 0.5930871,
    seed: 4,
    constants: {
      L_K: { value: 1.5, provenance: 'bounded', method: 'max ‖x‖·√2 <over> the data' },
      M_A: { value: 0.25, provenance: 'estimated', method: 'power iteration, 20 samples' },
    },
    newton: {
      method: 'cholesky',
      iterations: 1,
      residual: 3e-15,
      errorBound: 1e-13,
      lambdaMin: 0.002,
      lambdaMinMethod: 'exact (dense eigen-decomposition)',
      shift: 0,
    },
    solver: { method: 'auto', denseLimit: 4000, tolerance: 1e-8, maxIterations: 2000 },
    estimator: null,
    dataHashes: { forget: 'cd'.repeat(32), retain: 'ef'.repeat(32), test: '01'.repeat(32) },
    dataset: {
      id: 1,
      name: 'planted',
      path: '/data/planted',
      sha256: 'ab'.repeat(32),
      split: { validationFraction: 0.1, testFraction: null, seed: 0 },
      classes: CLASSES,
    },
    protected: protectedInfo(spec, sel, labels, 3),
    model: { kind: 'logreg', config: {}, shape, classes: CLASSES, parameters: layout.reduce((n, s) => n + s.size, 0) },
    trainRunId: 7,
    useful: false,
    usefulness: 'σ is 0.59 per weight: the released model is at chance.',
    caveats: ['M_A is estimated, not bounded.'],
  }
}

const report = (forgetDistance: number): ModelReport => ({
  forget: {
    images: 4,
    distance: forgetDistance,
    accuracy: 1,
    histogram: {
      edges: Array.from({ length: 21 }, (_, i) => 1 / 3 + (i * 2) / 60),
      counts: Array.from({ length: 20 }, (_, i) => (i === 19 ? 4 : 0)),
    },
  },
  retainAccuracy: 0.97,
  retainLoss: 0.08,
  testAccuracy: 0.95,
})

function writeFolder(dir: string) {
  const model = createClassifier('logreg', {}, shape)
  const params = model.init(1)
  const layout: ParamSlot[] = []
  let offset = 0
  for (const [name, t] of Object.entries(params.weights)) {
    layout.push({ name, shape: [...t.shape], offset, size: t.size })
    offset += t.size
  }
  // Values float32 cannot hold: a round trip through float32 anywhere would change them.
  const wStar = Float64Array.from({ length: offset }, (_, i) => (i + 1) / 3 + 1e-12 * i)
  const wMinus = Float64Array.from({ length: offset }, (_, i) => -Math.PI * (i + 1) * 1e-300)
  const json = writeCertificateFolder(dir, {
    json: draft(layout),
    wStar,
    wMinus,
    released: {
      config: { format: 'mxd-classifier', version: 1, model: 'logreg', modelConfig: {}, shape, classes: CLASSES, pixelScale: 1 / 255 },
      params,
    },
    layout,
    protectedIndices: Uint32Array.of(0, 3, 6, 9),
    report: {
      before: report(0.6),
      newtonModel: report(0.1),
      released: report(0.05),
      sweep: [
        {
          theta: 0.5,
          forgetDistance: 0.2,
          testAccuracy: 0.96,
          retainLoss: 0.09,
          retainLossChange: 0.01,
          bound: null,
          boundNote: 'λ < L: the bound <does not> apply',
        },
      ],
      attacks: [],
    },
  })
  const html = readFileSync(join(dir, 'report.html'), 'utf8')
  const released = Object.fromEntries(Object.entries(params.weights).map(([n, t]) => [n, Float32Array.from(t.dataSync())]))
  return { json, wStar, wMinus, layout, released, html }
}

describe('certificate folder', () => {
  it('round-trips: certificate.json, float64 w* and w⁻ bit for bit, the released model, the protected indices, the report', () => {
    const dir = join(root, 'ok')
    const w = writeFolder(dir)
    const back = readCertificateFolder(dir)
    try {
      expect(back.json).toEqual(w.json)
      expect(back.json.software.version).toBe(JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8')).version)
      expect(Buffer.from(back.wStar.buffer).equals(Buffer.from(w.wStar.buffer))).toBe(true)
      expect(Buffer.from(back.wMinus.buffer).equals(Buffer.from(w.wMinus.buffer))).toBe(true)
      expect([...back.protectedIndices]).toEqual([0, 3, 6, 9])
      expect(back.reportHtml).toBe(w.html)
      for (const [name, data] of Object.entries(w.released))
        expect(Float32Array.from(back.released.params.weights[name]!.dataSync())).toEqual(data)
      expect(back.released.config.classes).toEqual(CLASSES)
    } finally {
      back.released.dispose()
    }
  })

  it('refuses a tampered weights file, protected set or certificate.json, and a folder that is not one, naming the file', () => {
    const dir = join(root, 'tampered')
    writeFolder(dir)
    const wMinus = join(dir, 'w-minus.safetensors')
    const original = readFileSync(wMinus)
    const bytes = Buffer.from(original)
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 1, bytes.length - 1) // the last byte of the last float64
    writeFileSync(wMinus, bytes)
    expect(() => readCertificateFolder(dir)).toThrow(
      /w-minus\.safetensors does not match certificate\.json .*changed after issue; issue the certificate again/,
    )
    writeFileSync(wMinus, original)

    const prot = join(dir, 'protected.json')
    const protText = readFileSync(prot, 'utf8')
    writeFileSync(prot, protText.replace('[0,3,6,9]', '[0,3,6,10]'))
    expect(() => readCertificateFolder(dir)).toThrow(/protected\.json does not match certificate\.json/)
    writeFileSync(prot, protText)

    const cert = join(dir, 'certificate.json')
    const certText = readFileSync(cert, 'utf8')
    writeFileSync(cert, certText.replace('"mxd-privacy-certificate"', '"something-else"'))
    expect(() => readCertificateFolder(dir)).toThrow(/certificate\.json is not a privacy certificate/)
    writeFileSync(cert, certText.replace('"epsilon": 1,', '"epsilon": "one",'))
    expect(() => readCertificateFolder(dir)).toThrow(/certificate\.json: field "epsilon"/)
    writeFileSync(cert, certText)
    readCertificateFolder(dir).released.dispose() // whole again

    expect(() => readCertificateFolder(join(root, 'nowhere'))).toThrow(/certificate\.json is missing: .* is not a certificate folder/)
  })
})

describe('F64 safetensors', () => {
  it('writes float64 as is (bytes checked against a hand encoding) and reads it back exactly', () => {
    const path = join(root, 'f64.safetensors')
    const values = [1 / 3, -0, 5e-324, 1.7976931348623157e308]
    writeSafetensors(path, { v: { dtype: 'F64', shape: [2, 2], data: Float64Array.from(values) } })
    const bytes = readFileSync(path)
    const headerLength = Number(bytes.readBigUInt64LE(0))
    expect(JSON.parse(bytes.subarray(8, 8 + headerLength).toString())).toEqual({
      v: { dtype: 'F64', shape: [2, 2], data_offsets: [0, 32] },
    })
    const expected = Buffer.alloc(32)
    values.forEach((x, i) => expected.writeDoubleLE(x, 8 * i))
    expect(bytes.subarray(8 + headerLength).equals(expected)).toBe(true)
    const file = SafetensorsFile.open(path)
    try {
      expect(Object.is(file.readFloat64('v')[1], -0)).toBe(true)
      expect([...file.readFloat64('v')]).toEqual(values)
      expect(() => file.readFloat32('v')).toThrow(/is F64, which cannot be read as float32/)
    } finally {
      file.close()
    }
    // An F32 tensor reads as float64 widened exactly.
    const p32 = join(root, 'f32.safetensors')
    writeSafetensors(p32, { w: { dtype: 'F32', shape: [1], data: Float32Array.of(0.1) } })
    const f32 = SafetensorsFile.open(p32)
    expect(f32.readFloat64('w')[0]).toBe(Math.fround(0.1))
    f32.close()
  })
})

describe('report.html', () => {
  it('is self-contained, escapes every text and shows every constant with its provenance', () => {
    const { html, json } = writeFolder(join(root, 'report'))
    expect(html).not.toMatch(/<script/i)
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(html).toContain('b&amp;w')
    expect(html).toContain('&quot;quoted&quot;')
    expect(html).toContain('&lt;over&gt;')
    expect(html).not.toMatch(/ (src|href)=/)
    for (const [name, c] of Object.entries(json.constants))
      expect(html).toMatch(new RegExp(`<td>${name}</td><td>${c.value}</td><td>${c.provenance}</td>`))
    expect(html).toContain('0.123457') // Δ
    expect(html).toContain('0.593087') // σ
    expect(html).toContain('&lt;does not&gt;')
    for (const sha of Object.values(json.model.files)) expect(html).toContain(sha)
    expect(html).toContain('What it does not promise')
    expect(html).toContain('not useful at this ε')
    expect(html).toMatch(/<svg[^>]*aria-label="max-probability histograms/)
  })
})
