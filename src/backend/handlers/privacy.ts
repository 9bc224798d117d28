// Test-time privacy (docs/privacy.md): preview a protected set; queue Pareto fine-tuning (job
// privacy-finetune), a certified Newton step (privacy-certify), attacks (privacy-attack) or a
// certificate's verification (privacy-verify); read a run's result; list the certificates.
//
// Each start checks what it can before queueing, so a mistake is answered at once rather than as
// a failed run: the classifier run exists, is a classify-train run and succeeded; the certified
// path is offered only for the kinds it is exact for (logreg, MLP); a certificate id or folder
// exists; and the protected set is selected from the dataset's training-split labels (read
// without the pixels) exactly as the job will select it, so a class the dataset lacks or an index
// past the split's end is refused here with the same message.
import { join, resolve } from 'node:path'
import { loadImageSplitLabels } from '../../data/images/registry.js'
import { pathExists, readRegularFile } from '../../fs/user-files.js'
import { ProtectedSetError, protectedInfo, selectProtected, type ParsedProtectSpec } from '../../jobs/privacy/protected.js'
import { ApiError, type Output, type ParsedInput, type Run } from '../../shared/api.js'
import { ClassifyTrainConfig } from '../../shared/classify.js'
import {
  CERTIFICATE_FILE,
  CERTIFIABLE_MODEL_KINDS,
  CERTIFICATE_REPORT,
  MAX_REPORT_BYTES,
  PRIVACY_RESULT_FILE,
  PrivacyAttackConfig,
  PrivacyAttackResult,
  PrivacyCertifyConfig,
  PrivacyCertifyResult,
  PrivacyFinetuneConfig,
  PrivacyFinetuneResult,
  PrivacyVerifyConfig,
  PrivacyVerifyResult,
  type ProtectedSetInfo,
} from '../../shared/privacy.js'
import { getCertificate, listCertificates } from '../../store/certificates.js'
import type { BackendContext } from '../context.js'
import { readJson } from './classify.js'

/** The certified (Newton-step) path is exact only for these kinds. */
const CERTIFIABLE: readonly string[] = CERTIFIABLE_MODEL_KINDS

const PRIVACY_KINDS = ['privacy-finetune', 'privacy-certify', 'privacy-attack', 'privacy-verify'] as const
type PrivacyKind = (typeof PRIVACY_KINDS)[number]

/** A succeeded classify-train run and its config (the dataset and the model kind). */
function trainedRun(ctx: BackendContext, runId: number): { run: Run; config: ClassifyTrainConfig } {
  const run = ctx.store.getRun(runId)
  if (!run) throw new ApiError('not_found', `There is no run ${runId}: list the classifier runs with "mxd runs".`)
  if (run.kind !== 'classify-train')
    throw new ApiError(
      'bad_request',
      `Run ${runId} is a ${run.kind} run, not a classifier training run: give the id of a "mxd classify train" run.`,
    )
  if (run.status !== 'succeeded')
    throw new ApiError(
      'conflict',
      `Classifier run ${runId} is ${run.status}: its model is saved when training finishes (resume it with "mxd classify train --resume ${runId}").`,
    )
  const config = ClassifyTrainConfig.safeParse(run.config)
  if (!config.success)
    throw new ApiError('bad_request', `Classifier run ${runId} has a config this version cannot read: train the classifier again.`)
  return { run, config: config.data }
}

/** The protected set of `spec` on the run's dataset's training split, as the job will select it. */
async function previewSet(ctx: BackendContext, trainRunId: number, spec: ParsedProtectSpec): Promise<ProtectedSetInfo> {
  const { config } = trainedRun(ctx, trainRunId)
  let split: { labels: Uint8Array; classes: string[] }
  try {
    split = await loadImageSplitLabels(ctx.store, config.dataset, 'train')
  } catch (err) {
    throw new ApiError('bad_request', `Classifier run ${trainRunId}'s dataset #${config.dataset} cannot be read: ${(err as Error).message}`)
  }
  try {
    const sel = selectProtected(split.labels, split.classes.length, spec, split.classes)
    return protectedInfo(spec, sel, split.labels, split.classes.length)
  } catch (err) {
    if (err instanceof ProtectedSetError) throw new ApiError('bad_request', `protect: ${err.message}`)
    throw err
  }
}

function queue(ctx: BackendContext, kind: PrivacyKind, config: Record<string, unknown>): { runId: number } {
  const run = ctx.store.createRun(kind, config)
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

function certificate(ctx: BackendContext, id: number): NonNullable<ReturnType<typeof getCertificate>> {
  const found = getCertificate(ctx.store.db, id)
  if (!found)
    throw new ApiError(
      'not_found',
      `There is no certificate #${id}: issue one with "mxd privacy certify", or list them on the Privacy page.`,
    )
  return found
}

async function finetune(ctx: BackendContext, input: ParsedInput<'privacy.finetune'>): Promise<Output<'privacy.finetune'>> {
  await previewSet(ctx, input.trainRunId, input.protect)
  return queue(ctx, 'privacy-finetune', PrivacyFinetuneConfig.parse(input))
}

async function certify(ctx: BackendContext, input: ParsedInput<'privacy.certify'>): Promise<Output<'privacy.certify'>> {
  const { config } = trainedRun(ctx, input.trainRunId)
  if (!CERTIFIABLE.includes(config.model)) {
    throw new ApiError(
      'bad_request',
      `Classifier run ${input.trainRunId} is a ${config.model}: the certified Newton step is exact only for logreg and mlp (the Hessian of a ${config.model} is not available in closed form). Pareto fine-tuning (mxd privacy finetune) supports every classifier.`,
    )
  }
  await previewSet(ctx, input.trainRunId, input.protect)
  return queue(
    ctx,
    'privacy-certify',
    PrivacyCertifyConfig.parse(input.outDir === undefined ? input : { ...input, outDir: resolve(input.outDir) }),
  )
}

async function attack(ctx: BackendContext, input: ParsedInput<'privacy.attack'>): Promise<Output<'privacy.attack'>> {
  if ('runId' in input.target) {
    // A privacy-finetune run's kept model is attacked on its own protected set unless one is given.
    const run = ctx.store.getRun(input.target.runId)
    if (run?.kind === 'privacy-finetune') {
      if (run.status !== 'succeeded') throw new ApiError('bad_request', `Privacy fine-tuning run ${run.id} is ${run.status}: attack its model once it has succeeded.`)
      const tuned = PrivacyFinetuneConfig.parse(run.config)
      await previewSet(ctx, tuned.trainRunId, input.protect ?? tuned.protect)
    } else {
      if (input.protect === undefined)
        throw new ApiError(
          'bad_request',
          'protect: attacking a classifier run needs the protected set to attack (a certificate or a fine-tuning run brings its own).',
        )
      await previewSet(ctx, input.target.runId, input.protect)
    }
  } else {
    certificate(ctx, input.target.certificateId)
    if (input.protect !== undefined)
      throw new ApiError(
        'bad_request',
        `protect: certificate #${input.target.certificateId} brings its own protected set; leave protect out.`,
      )
  }
  return queue(ctx, 'privacy-attack', PrivacyAttackConfig.parse(input))
}

async function verify(ctx: BackendContext, input: ParsedInput<'privacy.verify'>): Promise<Output<'privacy.verify'>> {
  if ('id' in input.certificate) {
    const found = certificate(ctx, input.certificate.id)
    if (!(await pathExists(join(found.dir, CERTIFICATE_FILE)))) {
      throw new ApiError(
        'bad_request',
        `Certificate #${found.id}'s folder ${found.dir} has no ${CERTIFICATE_FILE}: the folder was moved or deleted; verify the folder where it is now (mxd privacy verify DIR).`,
      )
    }
    return queue(ctx, 'privacy-verify', PrivacyVerifyConfig.parse(input))
  }
  const dir = resolve(input.certificate.dir)
  if (!(await pathExists(join(dir, CERTIFICATE_FILE)))) {
    throw new ApiError(
      'bad_request',
      `${dir} has no ${CERTIFICATE_FILE}: choose a certificate folder ("mxd privacy certify --out DIR" writes one; a certify run keeps one in its run folder).`,
    )
  }
  return queue(ctx, 'privacy-verify', PrivacyVerifyConfig.parse({ certificate: { dir } }))
}

async function get(ctx: BackendContext, input: ParsedInput<'privacy.get'>): Promise<Output<'privacy.get'>> {
  const run = ctx.store.getRun(input.runId)
  if (!run || !(PRIVACY_KINDS as readonly string[]).includes(run.kind)) {
    throw new ApiError('not_found', `There is no privacy run ${input.runId}: list the runs with "mxd runs".`)
  }
  const kind = run.kind as PrivacyKind
  // A failed verification still wrote its checks: the result says which failed.
  const readable = run.status === 'succeeded' || (kind === 'privacy-verify' && run.status === 'failed')
  const file = join(ctx.store.runDir(run.id), PRIVACY_RESULT_FILE)
  const read = async <T>(k: PrivacyKind, schema: Parameters<typeof readJson<T>>[1]): Promise<T | null> =>
    readable && kind === k ? readJson(file, schema) : null
  return {
    runId: run.id,
    kind,
    status: run.status,
    error: run.error,
    config: run.config,
    finetune: await read('privacy-finetune', PrivacyFinetuneResult),
    certify: await read('privacy-certify', PrivacyCertifyResult),
    attack: await read('privacy-attack', PrivacyAttackResult),
    verify: await read('privacy-verify', PrivacyVerifyResult),
  }
}

/** A certificate's report.html as text: the page shows it in a sandboxed frame and offers it as a download. */
async function getReport(ctx: BackendContext, input: ParsedInput<'privacy.getReport'>): Promise<Output<'privacy.getReport'>> {
  const found = certificate(ctx, input.certificateId)
  const file = join(found.dir, CERTIFICATE_REPORT)
  if (!(await pathExists(file))) {
    throw new ApiError(
      'not_found',
      `Certificate #${found.id}'s folder ${found.dir} has no ${CERTIFICATE_REPORT}: the folder was moved or the file deleted; "mxd privacy verify DIR" checks the folder where it is now.`,
    )
  }
  let bytes: Buffer
  try {
    bytes = await readRegularFile(file, { what: `Certificate #${found.id}'s report`, maxBytes: MAX_REPORT_BYTES })
  } catch (err) {
    throw new ApiError('bad_request', (err as Error).message)
  }
  return { certificateId: found.id, dir: found.dir, html: bytes.toString('utf8') }
}

export const privacyHandlers = {
  preview: async (ctx: BackendContext, input: ParsedInput<'privacy.preview'>): Promise<Output<'privacy.preview'>> =>
    previewSet(ctx, input.trainRunId, input.protect),
  finetune,
  certify,
  attack,
  verify,
  get,
  listCertificates: async (
    ctx: BackendContext,
    _input: ParsedInput<'privacy.listCertificates'>,
  ): Promise<Output<'privacy.listCertificates'>> => listCertificates(ctx.store.db),
  getReport,
}
