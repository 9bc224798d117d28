// The privacy.* API on a real store and the real job queue, with real trained classifiers (a
// logistic regression and a small μMoE mixer on the planted 8×8 set): the preview's counts and
// hashes equal a recount from the training split's labels; each start validates before queueing
// (a bad protected set, a missing / unfinished / wrong-kind run, a mixer for the certified path, a
// missing certificate or folder), each refusal with its message and no run created; a valid start
// queues a run of the right kind with the parsed config; privacy.get reads the run back; and the
// certificates table's rows are listed, updated and cascade with their run.
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { loadImageSplit } from '../../../src/data/images/registry.js'
import type { Run } from '../../../src/shared/api.js'
import { getCertificate, insertCertificate, updateCertificateStatus } from '../../../src/store/certificates.js'
import { runEnded } from '../../helpers/jobs.js'
import { CLASSES, writePlantedIdx } from '../classify/planted.js'

const root = mkdtempSync(join(tmpdir(), 'mxd-privacy-api-'))
let b: Backend
let datasetId: number
let logreg: number
let mixer: number
let trainLabels: Uint8Array

const ended = (id: number): Promise<Run> => runEnded(b.ctx.store, id)

async function train(model: 'logreg' | 'mixer', modelConfig: Record<string, unknown>): Promise<number> {
  const { runId } = await b.call('classify.start', { data: datasetId, model, modelConfig, epochs: 1, batch: 32, seed: 1 })
  const run = await ended(runId)
  expect(run.status, run.error ?? '').toBe('succeeded')
  return runId
}

beforeAll(async () => {
  b = await Backend.create({ storeDir: join(root, 'store') })
  datasetId = (await b.call('images.add', { path: writePlantedIdx(join(root, 'planted'), { train: 40, test: 10 }) })).id
  logreg = await train('logreg', {})
  mixer = await train('mixer', { patch: 4, hidden: 8, tokenMixing: 4, channelMixing: 8, depth: 1, mlp: 'cpmoe', experts: 2 })
  trainLabels = (await loadImageSplit(b.ctx.store, datasetId, 'train')).labels
}, 300_000)
afterAll(async () => {
  await b.close()
  rmSync(root, { recursive: true, force: true })
})

const u32Hash = (xs: number[]): string => {
  const buf = Buffer.alloc(4 * xs.length)
  xs.forEach((x, i) => buf.writeUInt32LE(x, 4 * i))
  return createHash('sha256').update(buf).digest('hex')
}
const runCount = (): number => b.ctx.store.listRuns({ limit: 10_000 }).length

describe('privacy.preview', () => {
  it('counts and hashes the protected set as a recount from the training labels does', async () => {
    const n = trainLabels.length
    expect(n).toBe(144) // 160 images less the 10% validation split
    const ofClass = [...trainLabels.keys()].filter((i) => trainLabels[i] === 2)
    const info = await b.call('privacy.preview', { trainRunId: logreg, protect: { by: 'class', class: 2 } })
    expect(info.forget).toBe(ofClass.length)
    expect(info.retain).toBe(n - ofClass.length)
    expect(info.classCounts).toEqual(Array.from({ length: CLASSES }, (_, c) => (c === 2 ? ofClass.length : 0)))
    expect(info.forgetHash).toBe(u32Hash(ofClass))
    expect(info.retainHash).toBe(u32Hash([...trainLabels.keys()].filter((i) => trainLabels[i] !== 2)))

    const picked = [143, 0, 77]
    const byIndex = await b.call('privacy.preview', { trainRunId: logreg, protect: { by: 'indices', indices: picked } })
    expect(byIndex.forgetHash).toBe(u32Hash([0, 77, 143]))
    const counts = new Array<number>(CLASSES).fill(0)
    for (const i of picked) counts[trainLabels[i]!]!++
    expect(byIndex.classCounts).toEqual(counts)

    const random = await b.call('privacy.preview', { trainRunId: mixer, protect: { by: 'random', count: 20, seed: 5 } })
    expect(random.forget).toBe(20)
    expect(random.classCounts.reduce((a, c) => a + c, 0)).toBe(20)
    expect(await b.call('privacy.preview', { trainRunId: mixer, protect: { by: 'random', count: 20, seed: 5 } })).toEqual(random)
  })

  it('refuses a protected set the data cannot give and a run that is not a finished classifier run', async () => {
    const preview = (trainRunId: number, protect: unknown) => b.call('privacy.preview', { trainRunId, protect } as never)
    await expect(preview(logreg, { by: 'class', class: 9 })).rejects.toThrow(
      /protect: The dataset has no class 9: its classes are 0–3 \(0 0, 1 1, 2 2, 3 3\)/,
    )
    await expect(preview(logreg, { by: 'indices', indices: [1, 144] })).rejects.toThrow(
      /Index 144 is past the end of the training split \(144 images, indices 0–143\)/,
    )
    await expect(preview(logreg, { by: 'indices', indices: [3, 3] })).rejects.toThrow(/Index 3 is listed more than once/)
    await expect(preview(logreg, { by: 'class', class: 1, count: 37 })).rejects.toThrow(
      /37 images of class 1 \(1\) were asked for but the training split has 36/,
    )
    await expect(preview(logreg, { by: 'random', count: 144 })).rejects.toThrow(
      /144 random images were asked for but the training split has 144/,
    )
    await expect(preview(logreg, { by: 'everything' })).rejects.toThrow(/protect/)

    await expect(preview(9999, { by: 'class', class: 0 })).rejects.toThrow(/There is no run 9999/)
    const failed = b.ctx.store.createRun('classify-train', b.ctx.store.getRun(logreg)!.config, 'failed').id
    await expect(preview(failed, { by: 'class', class: 0 })).rejects.toThrow(
      new RegExp(
        `Classifier run ${failed} is failed: its model is saved when training finishes \\(resume it with "mxd classify train --resume ${failed}"\\)`,
      ),
    )
    const ev = await b.call('classify.evaluate', { trainRunId: logreg })
    await ended(ev.runId)
    await expect(preview(ev.runId, { by: 'class', class: 0 })).rejects.toThrow(
      new RegExp(`Run ${ev.runId} is a classify-eval run, not a classifier training run`),
    )
  })
})

describe('privacy starts', () => {
  it('validate before queueing, then queue a run of the right kind with the parsed config', async () => {
    const before = runCount()
    await expect(b.call('privacy.finetune', { trainRunId: logreg, protect: { by: 'class', class: 7 } })).rejects.toThrow(/no class 7/)
    await expect(b.call('privacy.certify', { trainRunId: mixer, protect: { by: 'class', class: 0 }, normBound: 10 })).rejects.toThrow(
      /is a mixer: the certified Newton step is exact only for logreg and mlp .*Pareto fine-tuning \(mxd privacy finetune\) supports every classifier/,
    )
    await expect(
      b.call('privacy.certify', { trainRunId: logreg, protect: { by: 'indices', indices: [500] }, normBound: 10 }),
    ).rejects.toThrow(/Index 500 is past the end/)
    await expect(b.call('privacy.attack', { target: { runId: logreg }, attacks: { fgsm: {} } })).rejects.toThrow(
      /attacking a classifier run needs the protected set/,
    )
    await expect(b.call('privacy.attack', { target: { certificateId: 42 }, attacks: { fgsm: {} } })).rejects.toThrow(
      /There is no certificate #42/,
    )
    await expect(b.call('privacy.verify', { certificate: { id: 42 } })).rejects.toThrow(/There is no certificate #42/)
    await expect(b.call('privacy.verify', { certificate: { dir: join(root, 'no-such-folder') } })).rejects.toThrow(
      /no-such-folder has no certificate\.json: choose a certificate folder/,
    )
    expect(runCount()).toBe(before)

    const ft = await b.call('privacy.finetune', {
      trainRunId: mixer,
      protect: { by: 'class', class: 1, count: 5 },
      objective: { theta: 0.9 },
      sweep: [0.5],
    })
    const ftRun = b.ctx.store.getRun(ft.runId)!
    expect(ftRun.kind).toBe('privacy-finetune')
    expect(ftRun.config).toMatchObject({
      trainRunId: mixer,
      protect: { by: 'class', class: 1, count: 5, seed: 0 },
      objective: { theta: 0.9, lambda: 1e-3, lossK: 'forward-kl' },
      sweep: [0.5],
      epochs: 30,
    })
    const cert = await b.call('privacy.certify', {
      trainRunId: logreg,
      protect: { by: 'random', count: 10 },
      normBound: 10,
      epsilon: 2,
      outDir: relative(process.cwd(), join(root, 'out')),
    })
    const certRun = b.ctx.store.getRun(cert.runId)!
    expect(certRun.kind).toBe('privacy-certify')
    expect(certRun.config).toMatchObject({ normBound: 10, epsilon: 2, delta: 1e-5, outDir: join(root, 'out') })
    const at = await b.call('privacy.attack', {
      target: { runId: logreg },
      protect: { by: 'class', class: 0 },
      attacks: { pgd: { radius: 0.05 } },
    })
    expect(b.ctx.store.getRun(at.runId)!.config).toMatchObject({
      target: { runId: logreg },
      attacks: { pgd: { radius: 0.05, steps: 50, stepSize: 1e-3 }, confidentAbove: 0.5 },
    })

    // privacy.get reads each back once it has ended: the result of its own kind only, and only when it succeeded.
    for (const id of [ft.runId, cert.runId, at.runId]) await ended(id)
    const state = await b.call('privacy.get', { runId: ft.runId })
    expect(state).toMatchObject({ runId: ft.runId, kind: 'privacy-finetune', certify: null, attack: null, verify: null })
    expect(state.status).toBe(b.ctx.store.getRun(ft.runId)!.status)
    expect(state.finetune !== null).toBe(state.status === 'succeeded')
    expect(state.config).toEqual(ftRun.config)
    await expect(b.call('privacy.get', { runId: logreg })).rejects.toThrow(new RegExp(`There is no privacy run ${logreg}`))
  })
})

describe('certificates', () => {
  it('rows are listed newest first, updated by verification, refused for verify when the folder is gone, and deleted with their run', async () => {
    // Only this test's rows (a certify job of the test before may have issued one).
    const earlier = new Set((await b.call('privacy.listCertificates', {})).map((r) => r.id))
    const mine = async () => (await b.call('privacy.listCertificates', {})).filter((r) => !earlier.has(r.id))
    const dir = join(root, 'cert-a')
    const runA = b.ctx.store.createRun('privacy-certify', { trainRunId: logreg }, 'succeeded').id
    const runB = b.ctx.store.createRun('privacy-certify', { trainRunId: logreg }, 'succeeded').id
    const a = insertCertificate(
      b.ctx.store.db,
      { runId: runA, trainRunId: logreg, dir, model: 'logreg', epsilon: 1, delta: 1e-5, sigma: 0.25, sensitivity: 0.05, useful: true },
      '2026-12-06T01:00:00.000Z',
    )
    const c = insertCertificate(b.ctx.store.db, {
      runId: runB,
      trainRunId: logreg,
      dir: join(root, 'cert-b'),
      model: 'mlp',
      epsilon: 0.5,
      delta: 1e-6,
      sigma: 3,
      sensitivity: 0.2,
      useful: false,
    })
    const listed = await mine()
    expect(listed.map((r) => r.id)).toEqual([c.id, a.id])
    expect(listed[1]).toEqual({
      id: a.id,
      runId: runA,
      trainRunId: logreg,
      dir,
      model: 'logreg',
      epsilon: 1,
      delta: 1e-5,
      sigma: 0.25,
      sensitivity: 0.05,
      useful: true,
      status: 'issued',
      createdAt: '2026-12-06T01:00:00.000Z',
      verifiedAt: null,
    })
    expect(listed[0]!.useful).toBe(false)

    // A resumed certify run re-issues its certificate: the same row, renewed, not a second one.
    updateCertificateStatus(b.ctx.store.db, c.id, 'verified', null)
    const again = insertCertificate(b.ctx.store.db, { runId: runB, trainRunId: logreg, dir: join(root, 'cert-b'), model: 'mlp', epsilon: 0.5, delta: 1e-6, sigma: 4, sensitivity: 0.3, useful: false })
    expect(again).toMatchObject({ id: c.id, sigma: 4, sensitivity: 0.3, status: 'issued', verifiedAt: null })
    expect((await mine()).map((r) => r.id)).toEqual([c.id, a.id])

    // Verifying by id needs the folder where the row says it is.
    await expect(b.call('privacy.verify', { certificate: { id: a.id } })).rejects.toThrow(
      /folder .*cert-a has no certificate\.json: the folder was moved or deleted/,
    )
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'certificate.json'), '{}')
    const v = await b.call('privacy.verify', { certificate: { id: a.id } })
    expect(b.ctx.store.getRun(v.runId)).toMatchObject({ kind: 'privacy-verify', config: { certificate: { id: a.id } } })
    await ended(v.runId)

    const updated = updateCertificateStatus(b.ctx.store.db, a.id, 'verified', v.runId, '2026-12-06T02:00:00.000Z')
    expect(updated).toMatchObject({ status: 'verified', verifiedAt: '2026-12-06T02:00:00.000Z' })
    expect((await mine())[1]!.status).toBe('verified')
    expect(() => updateCertificateStatus(b.ctx.store.db, 999, 'failed', null)).toThrow(/no certificate #999/)
    const attack = await b.call('privacy.attack', { target: { certificateId: a.id }, attacks: { gaussian: {} } })
    await ended(attack.runId)
    await expect(
      b.call('privacy.attack', { target: { certificateId: a.id }, protect: { by: 'class', class: 0 }, attacks: {} }),
    ).rejects.toThrow(/brings its own protected set/)

    // Deleting the certify run deletes its row (ON DELETE CASCADE); the verify run's deletion leaves it.
    b.ctx.store.deleteRun(v.runId)
    expect(getCertificate(b.ctx.store.db, a.id)!.status).toBe('verified')
    b.ctx.store.deleteRun(runB)
    expect((await mine()).map((r) => r.id)).toEqual([a.id])
  })
})
