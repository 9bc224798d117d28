// experts.analyze queues the expert-specialisation analysis of a registered μMoE model (job kind
// expert-analysis); experts.get returns the run's state and, once it succeeded, its result;
// experts.list says whether a model has experts and lists its analyses. Held-out text: the
// request's dataset, else the data of the pretrain run that made the model (with its held-out
// fraction, so the text is the split the model never trained on), else the bundled KJV corpus.
import { join, resolve } from 'node:path'
import { pathExists, readRegularFile } from '../../fs/user-files.js'
import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import { ExpertAnalysisConfig } from '../../shared/experts.js'
import { readExpertAnalysis } from '../../jobs/expert-analysis.js'
import type { Store } from '../../store/store.js'
import type { BackendContext } from '../context.js'
import { resourcesDir } from '../paths.js'
import { modelRow } from './models.js'

export const BUNDLED_CORPUS = join(resourcesDir, 'corpus', 'kjv')

export async function analyzeExperts(ctx: BackendContext, input: ParsedInput<'experts.analyze'>): Promise<Output<'experts.analyze'>> {
  const model = modelRow(ctx, input.modelId)
  const kind = await readMlpKind(model.path)
  if (kind !== 'cpmoe' && kind !== 'trmoe') {
    throw new ApiError(
      'bad_request',
      `${model.name} has ${kind ?? 'dense'} MLPs: the expert analysis needs a μMoE model (CPμMoE or TRμMoE).`,
    )
  }
  const trained = pretrainRunOf(ctx.store, model.path)
  const data = input.data ? resolve(input.data) : (trained?.data ?? BUNDLED_CORPUS)
  if (!(await pathExists(data))) throw new ApiError('bad_request', `There is no dataset at ${data}.`)
  const config = ExpertAnalysisConfig.parse({
    model: model.path,
    data,
    ...(input.tokens === undefined ? {} : { tokens: input.tokens }),
    ...(!input.data && trained?.heldOutFraction !== undefined ? { heldOutFraction: trained.heldOutFraction } : {}),
  })
  const run = ctx.store.createRun('expert-analysis', config)
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

export function getExpertAnalysis(ctx: BackendContext, input: ParsedInput<'experts.get'>): Output<'experts.get'> {
  const run = ctx.store.getRun(input.runId)
  if (!run || run.kind !== 'expert-analysis') throw new ApiError('not_found', `There is no expert analysis run ${input.runId}.`)
  return {
    runId: run.id,
    status: run.status,
    error: run.error,
    analysis: run.status === 'succeeded' ? readExpertAnalysis(ctx.store, run.id) : null,
  }
}

export async function modelExperts(ctx: BackendContext, input: ParsedInput<'experts.list'>): Promise<Output<'experts.list'>> {
  const model = modelRow(ctx, input.modelId)
  const config = await readConfig(model.path)
  const mlpKind = typeof config.mlp_kind === 'string' ? config.mlp_kind : null
  const moe = mlpKind === 'cpmoe' || mlpKind === 'trmoe'
  const runs = moe
    ? ctx.store
        .listRuns({ kind: 'expert-analysis' })
        .filter((r) => r.config.model === model.path)
        .map((r) => ({ id: r.id, status: r.status, tokens: Number(r.config.tokens), createdAt: r.createdAt }))
    : []
  return { modelId: model.id, mlpKind, nExperts: moe && typeof config.n_experts === 'number' ? config.n_experts : null, runs }
}

// A registered model's folder is still the user's: read it async and as a regular file only (a
// FIFO named config.json must not stall the server), and at most a config's size.
async function readConfig(dir: string): Promise<Record<string, unknown>> {
  try {
    const text = (await readRegularFile(join(dir, 'config.json'), { what: "the model's config.json", maxBytes: 16 << 20 })).toString('utf8')
    return JSON.parse(text) as Record<string, unknown>
  } catch (err) {
    throw new ApiError('conflict', `${dir}/config.json can no longer be read: ${(err as Error).message}`)
  }
}

async function readMlpKind(dir: string): Promise<string | null> {
  const kind = (await readConfig(dir)).mlp_kind
  return typeof kind === 'string' ? kind : null
}

/** The newest succeeded pretrain run whose output is `dir`. */
function pretrainRunOf(store: Store, dir: string): { data: string; heldOutFraction?: number } | null {
  const run = store.listRuns({ kind: 'pretrain', status: 'succeeded' }).find((r) => r.config.out === dir)
  if (!run || typeof run.config.data !== 'string') return null
  const fraction = run.config.heldOutFraction
  return { data: run.config.data, ...(typeof fraction === 'number' ? { heldOutFraction: fraction } : {}) }
}
