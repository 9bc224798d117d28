// privacy.getReport on a real store: a certificate's report.html comes back as the exact text of
// the file (non-ASCII and markup untouched), and each refusal names what is wrong: no such
// certificate, no report.html in the folder the row names (the folder moved or the file deleted),
// something that is not a file in its place, and a file larger than MAX_REPORT_BYTES.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { CERTIFICATE_REPORT, MAX_REPORT_BYTES } from '../../../src/shared/privacy.js'
import { insertCertificate } from '../../../src/store/certificates.js'

const root = mkdtempSync(join(tmpdir(), 'mxd-privacy-report-'))
let b: Backend

beforeAll(async () => {
  b = await Backend.create({ storeDir: join(root, 'store') })
})
afterAll(async () => {
  await b.close()
  rmSync(root, { recursive: true, force: true })
})

/** A certificate row (and its certify run) whose folder is `dir`; the rows are what the store holds, no job ran. */
function certificateAt(dir: string): number {
  const train = b.ctx.store.createRun('classify-train', { model: 'logreg' }, 'succeeded').id
  const run = b.ctx.store.createRun('privacy-certify', { trainRunId: train }, 'succeeded').id
  return insertCertificate(b.ctx.store.db, {
    runId: run,
    trainRunId: train,
    dir,
    model: 'logreg',
    epsilon: 1,
    delta: 1e-5,
    sigma: 1.2e10,
    sensitivity: 3,
    useful: false,
  }).id
}

describe('privacy.getReport', () => {
  it('returns report.html as written, with the folder it came from', async () => {
    const dir = join(root, 'cert-ok')
    mkdirSync(dir)
    const html = '<!doctype html><title>Certificate</title><p>σ = 1.2000e+10 · class &lt;b&gt;“zwölf”</p>\n'
    writeFileSync(join(dir, CERTIFICATE_REPORT), html)
    const id = certificateAt(dir)
    expect(await b.call('privacy.getReport', { certificateId: id })).toEqual({ certificateId: id, dir, html })
  })

  it('refuses a certificate id the store does not have', async () => {
    await expect(b.call('privacy.getReport', { certificateId: 987_654 })).rejects.toThrow(/There is no certificate #987654/)
  })

  it('refuses a folder whose report.html is gone, naming the folder', async () => {
    const dir = join(root, 'cert-gone')
    mkdirSync(dir)
    writeFileSync(join(dir, CERTIFICATE_REPORT), '<p>soon gone</p>')
    const id = certificateAt(dir)
    rmSync(join(dir, CERTIFICATE_REPORT))
    await expect(b.call('privacy.getReport', { certificateId: id })).rejects.toThrow(
      new RegExp(`Certificate #${id}'s folder .*cert-gone has no report\\.html: the folder was moved or the file deleted`),
    )
    // The whole folder gone reads the same.
    rmSync(dir, { recursive: true })
    await expect(b.call('privacy.getReport', { certificateId: id })).rejects.toThrow(/cert-gone has no report\.html/)
  })

  it('refuses a folder in place of report.html, and a report larger than the limit', async () => {
    const odd = join(root, 'cert-odd')
    mkdirSync(join(odd, CERTIFICATE_REPORT), { recursive: true })
    await expect(b.call('privacy.getReport', { certificateId: certificateAt(odd) })).rejects.toThrow(
      /not a regular file|is a folder|directory/i,
    )

    const big = join(root, 'cert-big')
    mkdirSync(big)
    writeFileSync(join(big, CERTIFICATE_REPORT), Buffer.alloc(MAX_REPORT_BYTES + 1, 0x20))
    await expect(b.call('privacy.getReport', { certificateId: certificateAt(big) })).rejects.toThrow(
      new RegExp(`is ${MAX_REPORT_BYTES + 1} bytes, more than the ${MAX_REPORT_BYTES}`),
    )
  })

  it('validates the request', async () => {
    await expect(b.call('privacy.getReport', { certificateId: 0 } as never)).rejects.toThrow(/certificateId/)
    await expect(b.call('privacy.getReport', { certificateId: 1, dir: '/tmp' } as never)).rejects.toThrow()
  })
})
