// The certificate folder (README, "Certificate folder"): what a privacy-certify run issues and a
// privacy-verify run re-checks. The folder IS the certificate; it holds everything verification
// needs without the store:
//   certificate.json     CertificateJson: every number of the certificate, each constant with its
//                        provenance, the data and the protected set by hash, the weight files' hashes
//   w-star.safetensors   w* (the trained model), float64, one tensor per parameter
//   w-minus.safetensors  w⁻ (after the Newton step, before noise), float64, likewise
//   released/            w̃ = w⁻ + noise as a saved classifier folder (config.json + model.safetensors)
//   protected.json       the forget indices (training-split indices, ascending) and their hash
//   report.html          the human-readable report (report-html.ts), rendered from certificate.json
// Every file is written atomically, certificate.json last, so a folder with a certificate.json is
// whole. Synchronous: it runs in a job's worker (or a CLI process).
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import type { ClassifierParams } from '../../engine/classifiers/classifier.js'
import {
  ClassifierFolderError,
  loadClassifierFolder,
  saveClassifierFolder,
  type LoadedClassifier,
  type SavedClassifierConfig,
} from '../../engine/classifiers/folder.js'
import type { ParamSlot } from '../../engine/privacy/types.js'
import { SafetensorsFile, writeSafetensors, type WritableTensor64 } from '../../engine/safetensors.js'
import { CLASSIFIER_WEIGHTS_FILE } from '../../shared/classify.js'
import {
  CERTIFICATE_FILE,
  CERTIFICATE_PROTECTED,
  CERTIFICATE_RELEASED_DIR,
  CERTIFICATE_REPORT,
  CERTIFICATE_W_MINUS,
  CERTIFICATE_W_STAR,
} from '../../shared/privacy.js'
import { sha256File, writeFileAtomic } from '../../store/files.js'
import { CERTIFICATE_FORMAT, CertificateJson, Sha256, SOFTWARE_VERSION } from './certificate-json.js'
import { indexHash } from './protected.js'
import { renderCertificateReport, type CertificateReportExtra } from './report-html.js'

export { CERTIFICATE_FORMAT, CertificateJson, SOFTWARE_VERSION }

/** certificate.json before the folder is written: the writer adds the layout and the weight files' hashes. */
export type CertificateDraft = Omit<CertificateJson, 'model' | 'format' | 'version' | 'software'> & {
  model: Omit<CertificateJson['model'], 'files' | 'layout'>
}

/** protected.json. */
const ProtectedJson = z.object({ forgetHash: Sha256, forget: z.array(z.number().int().min(0)) })

export interface CertificateParts {
  json: CertificateDraft
  wStar: Float64Array
  wMinus: Float64Array
  released: { config: SavedClassifierConfig; params: ClassifierParams }
  layout: ParamSlot[]
  protectedIndices: Uint32Array
  /** The models' figures, sweep and attacks for report.html (rendered here, once the files' hashes are known). */
  report: CertificateReportExtra
}

/** A certificate folder that cannot be used as one: the message names the file and the fix. */
export class CertificateFolderError extends Error {}

/** The flat vector as one F64 tensor per parameter (the layout's names and shapes). */
function vectorTensors(w: Float64Array, layout: readonly ParamSlot[], what: string): Record<string, WritableTensor64> {
  const total = layout.reduce((n, s) => n + s.size, 0)
  if (w.length !== total) throw new Error(`${what} has ${w.length} values but the parameter layout has ${total}`)
  const out: Record<string, WritableTensor64> = {}
  for (const s of layout) out[s.name] = { dtype: 'F64', shape: s.shape, data: w.slice(s.offset, s.offset + s.size) }
  return out
}

/** Writes the folder (made if missing) and returns the certificate.json it wrote. */
export function writeCertificateFolder(dir: string, parts: CertificateParts): CertificateJson {
  mkdirSync(dir, { recursive: true })
  const meta = { format: CERTIFICATE_FORMAT }
  const wStar = writeSafetensors(join(dir, CERTIFICATE_W_STAR), vectorTensors(parts.wStar, parts.layout, 'w*'), meta)
  const wMinus = writeSafetensors(join(dir, CERTIFICATE_W_MINUS), vectorTensors(parts.wMinus, parts.layout, 'w⁻'), meta)
  const releasedDir = join(dir, CERTIFICATE_RELEASED_DIR)
  saveClassifierFolder(releasedDir, parts.released.config, parts.released.params)
  const released = sha256File(join(releasedDir, CLASSIFIER_WEIGHTS_FILE))
  const forget = [...parts.protectedIndices]
  const protectedJson = { forgetHash: indexHash(parts.protectedIndices), forget }
  writeFileAtomic(join(dir, CERTIFICATE_PROTECTED), Buffer.from(JSON.stringify(protectedJson) + '\n'))
  const json = CertificateJson.parse({
    format: CERTIFICATE_FORMAT,
    version: 1,
    software: { name: 'MxD Studio', version: SOFTWARE_VERSION },
    ...parts.json,
    model: { ...parts.json.model, layout: parts.layout, files: { wStar, wMinus, released } },
  })
  writeFileAtomic(join(dir, CERTIFICATE_REPORT), Buffer.from(renderCertificateReport(json, parts.report)))
  writeFileAtomic(join(dir, CERTIFICATE_FILE), Buffer.from(JSON.stringify(json, null, 2) + '\n'))
  return json
}

export interface CertificateFolder {
  dir: string
  json: CertificateJson
  wStar: Float64Array
  wMinus: Float64Array
  /** The released model w̃, loaded (call dispose()). */
  released: LoadedClassifier
  protectedIndices: Uint32Array
  reportHtml: string
}

const REWRITE = 'issue the certificate again (mxd privacy certify), or restore the folder from a copy'

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new CertificateFolderError(
      code === 'ENOENT' ? `${path} is missing: ${what}` : `${path} cannot be read (${(err as Error).message}): ${what}`,
    )
  }
}

/** The vector from an F64 safetensors file, checked against its recorded hash and the layout. */
function readVector(path: string, expectedSha: string, layout: readonly ParamSlot[]): Float64Array {
  const actual = (() => {
    try {
      return sha256File(path)
    } catch {
      throw new CertificateFolderError(`${path} is missing or unreadable: the certificate's weights are gone; ${REWRITE}.`)
    }
  })()
  if (actual !== expectedSha) {
    throw new CertificateFolderError(
      `${path} does not match certificate.json (sha256 ${actual.slice(0, 12)}…, recorded ${expectedSha.slice(0, 12)}…): the weights were changed after issue; ${REWRITE}.`,
    )
  }
  const file = SafetensorsFile.open(path)
  try {
    const total = layout.reduce((n, s) => n + s.size, 0)
    const w = new Float64Array(total)
    if (file.tensors.size !== layout.length)
      throw new CertificateFolderError(`${path} holds ${file.tensors.size} tensors, the certificate's layout ${layout.length}; ${REWRITE}.`)
    for (const s of layout) {
      const info = file.tensors.get(s.name)
      if (!info || info.dtype !== 'F64' || info.shape.join(',') !== s.shape.join(',')) {
        throw new CertificateFolderError(`${path} has no F64 tensor "${s.name}" of shape [${s.shape.join(', ')}]; ${REWRITE}.`)
      }
      w.set(file.readFloat64(s.name), s.offset)
    }
    return w
  } finally {
    file.close()
  }
}

/** Reads and checks a certificate folder: its format, every file present, the weight files' hashes. */
export function readCertificateFolder(dir: string): CertificateFolder {
  const jsonPath = join(dir, CERTIFICATE_FILE)
  let raw: unknown
  const text = readText(
    jsonPath,
    `${dir} is not a certificate folder; choose the folder "mxd privacy certify --out" wrote (or a certify run's certificate/ folder).`,
  )
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new CertificateFolderError(`${jsonPath} is not valid JSON (${(err as Error).message}); ${REWRITE}.`)
  }
  if ((raw as { format?: unknown } | null)?.format !== CERTIFICATE_FORMAT) {
    throw new CertificateFolderError(
      `${jsonPath} is not a privacy certificate (no "format": "${CERTIFICATE_FORMAT}"): choose a folder a privacy-certify run wrote.`,
    )
  }
  const parsed = CertificateJson.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new CertificateFolderError(
      `${jsonPath}: field "${issue.path.join('.')}" ${issue.message.toLowerCase()}; the file was edited or is from another version — ${REWRITE}.`,
    )
  }
  const json = parsed.data
  const layout = json.model.layout
  const wStar = readVector(join(dir, CERTIFICATE_W_STAR), json.model.files.wStar, layout)
  const wMinus = readVector(join(dir, CERTIFICATE_W_MINUS), json.model.files.wMinus, layout)

  const protectedPath = join(dir, CERTIFICATE_PROTECTED)
  const prot = ProtectedJson.safeParse(
    (() => {
      try {
        return JSON.parse(readText(protectedPath, `the protected set is gone; ${REWRITE}.`))
      } catch (err) {
        if (err instanceof CertificateFolderError) throw err
        return null
      }
    })(),
  )
  if (!prot.success)
    throw new CertificateFolderError(`${protectedPath} is not a protected-set file ({ forgetHash, forget: [indices] }); ${REWRITE}.`)
  const protectedIndices = Uint32Array.from(prot.data.forget)
  const hash = indexHash(protectedIndices)
  if (hash !== prot.data.forgetHash || hash !== json.protected.forgetHash) {
    throw new CertificateFolderError(
      `${protectedPath} does not match certificate.json (sha256 of the indices ${hash.slice(0, 12)}…, recorded ${json.protected.forgetHash.slice(0, 12)}…): the protected set was changed; ${REWRITE}.`,
    )
  }

  const releasedDir = join(dir, CERTIFICATE_RELEASED_DIR)
  const releasedWeights = join(releasedDir, CLASSIFIER_WEIGHTS_FILE)
  let releasedSha: string
  try {
    releasedSha = sha256File(releasedWeights)
  } catch {
    throw new CertificateFolderError(`${releasedWeights} is missing or unreadable: the released model is gone; ${REWRITE}.`)
  }
  if (releasedSha !== json.model.files.released) {
    throw new CertificateFolderError(
      `${releasedWeights} does not match certificate.json (sha256 ${releasedSha.slice(0, 12)}…, recorded ${json.model.files.released.slice(0, 12)}…): the released model was changed after issue; ${REWRITE}.`,
    )
  }
  const reportHtml = readText(join(dir, CERTIFICATE_REPORT), `the report is gone; ${REWRITE}.`)
  let released: LoadedClassifier
  try {
    released = loadClassifierFolder(releasedDir)
  } catch (err) {
    throw err instanceof ClassifierFolderError
      ? new CertificateFolderError(`${err.message} (the certificate's released model; ${REWRITE})`)
      : err
  }
  return { dir, json, wStar, wMinus, released, protectedIndices, reportHtml }
}
