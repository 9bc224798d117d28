// `pretrain.preview`: parameter counts of a GPT-2 configuration by part, the μMoE rank matched to
// the dense MLP's budget, the steps and a rough time, and the output folder for a name. The
// counts are the engine's, off the tensors its GPT-2 would hold (lm_head tied to wte).
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { ApiError, type Output, type ParsedInput, type PretrainConfig } from '../../shared/api.js'
import { OUT_NAME_PATTERN } from '../../shared/pretrain.js'
import { matchedCpRank, matchedTrRanks } from '../../engine/layers/mumoe.js'
import type { Gpt2Config, MlpConfig } from '../../engine/train/gpt2.js'
import { gpt2ParameterCounts, type Gpt2ParameterCounts } from '../../engine/train/save.js'
import { gpt2Config, mlpConfig, trainSettings } from '../../jobs/pretrain.js'
import type { BackendContext } from '../context.js'
import { resourcesDir } from '../paths.js'

type Sizes = Pick<PretrainConfig, 'layers' | 'dModel' | 'heads' | 'ctx' | 'vocabSize' | 'mlp' | 'experts' | 'rank'>

/**
 * Parameter counts by part, and of one block's MLP and of a dense one, for the GPT-2 the
 * pre-training job would build from `c`: the engine counts them off its tensor list.
 */
export function paramCounts(c: Sizes): Gpt2ParameterCounts & { mlpPerBlock: number; denseMlpPerBlock: number } {
  const model = (mlp: MlpConfig): Gpt2Config => gpt2Config(c, mlp, c.vocabSize)
  const counts = gpt2ParameterCounts(
    model(c.mlp !== 'dense' && c.experts !== undefined ? mlpConfig(c as PretrainConfig) : { kind: 'dense' }),
  )
  const dense = c.mlp === 'dense' ? counts : gpt2ParameterCounts(model({ kind: 'dense' }))
  return { ...counts, mlpPerBlock: counts.mlp / c.layers, denseMlpPerBlock: dense.mlp / c.layers }
}

/** Training FLOPs per token: 6 per weight touched (lm_head included, the wte lookup not) plus causal attention. */
function flopsPerToken(c: Sizes): number {
  const p = paramCounts(c)
  return 6 * (p.attention + p.mlp + c.vocabSize * c.dModel) + 6 * c.layers * c.ctx * c.dModel
}

/** Assumed sustained training throughput when no earlier run tells better. */
const DEFAULT_FLOPS: Record<string, number> = { tensorflow: 20e9, wasm: 3e9, cpu: 0.3e9 }

/**
 * Seconds a step costs besides its arithmetic (dispatching the many small ops of a forward and
 * backward pass): what dominates small models. Measured on wasm: about 0.1 s for one block.
 */
function stepOverhead(backend: string, layers: number): number {
  return backend === 'tensorflow' ? 0.005 + 0.01 * layers : 0.04 + 0.06 * layers
}

interface StepShape extends Sizes {
  batch: number
}

function estimate(ctx: BackendContext, c: StepShape, tokens: number): { seconds: number; tokensPerSecond: number; basis: string } {
  const backend = ctx.compute.backend
  const perStepTokens = c.batch * c.ctx
  const steps = Math.ceil(tokens / perStepTokens)
  const result = (flops: number, basis: string): { seconds: number; tokensPerSecond: number; basis: string } => {
    const perStep = stepOverhead(backend, c.layers) + (perStepTokens * flopsPerToken(c)) / flops
    return { seconds: steps * perStep, tokensPerSecond: perStepTokens / perStep, basis }
  }
  for (const run of ctx.store.listRuns({ kind: 'pretrain', status: 'succeeded', limit: 10 })) {
    const rates = ctx.store
      .getMetrics(run.id)
      .filter((m) => m.name === 'tokens_per_s' && Number.isFinite(m.value) && m.value > 0)
      .map((m) => m.value)
    if (rates.length === 0) continue
    const cfg = run.config as unknown as PretrainConfig
    // The later half: the first steps include start-up.
    const late = rates.slice(Math.floor(rates.length / 2))
    const rate = late.reduce((a, b) => a + b, 0) / late.length
    const theirs: StepShape = { ...cfg, vocabSize: cfg.vocabSize ?? 4096, mlp: cfg.mlp ?? 'dense', batch: cfg.batch ?? 8 }
    const tokensPerStep = theirs.batch * theirs.ctx
    const seconds = tokensPerStep / rate
    // What that run's arithmetic ran at, once its per-step overhead is taken out.
    const arithmetic = Math.max(seconds - stepOverhead(backend, theirs.layers), 0.2 * seconds)
    return result(
      (tokensPerStep * flopsPerToken(theirs)) / arithmetic,
      `scaled from the speed of run ${run.id}, data preparation not included`,
    )
  }
  return result(
    DEFAULT_FLOPS[backend] ?? DEFAULT_FLOPS.cpu!,
    `a rough guess for the ${backend} backend (no earlier pre-training run to go by), data preparation not included`,
  )
}

function bundledCorpus(ctx: BackendContext): Output<'pretrain.preview'>['bundledCorpus'] {
  const root = resolve(ctx.bundledModelsDir ? dirname(ctx.bundledModelsDir) : resourcesDir, 'corpus')
  if (!existsSync(root)) return null
  for (const name of readdirSync(root).sort()) {
    const file = join(root, name, 'train.txt')
    if (existsSync(file)) return { path: file, name: `${name} (bundled)`, bytes: statSync(file).size }
  }
  return null
}

export function previewPretrain(ctx: BackendContext, input: ParsedInput<'pretrain.preview'>): Output<'pretrain.preview'> {
  if (input.dModel % input.heads !== 0)
    throw new ApiError('bad_request', `d_model ${input.dModel} is not a multiple of ${input.heads} heads.`)
  if (input.mlp !== 'dense' && input.experts === undefined) throw new ApiError('bad_request', 'A μMoE MLP needs a number of experts.')
  if (input.outName !== undefined && !OUT_NAME_PATTERN.test(input.outName)) {
    throw new ApiError(
      'bad_request',
      `"${input.outName}" is not a folder name: use letters, digits, ".", "_" and "-", starting with a letter or digit.`,
    )
  }
  const counts = paramCounts(input)
  const dims = { dModel: input.dModel, hidden: 4 * input.dModel }
  let matched: Output<'pretrain.preview'>['matched'] = null
  let rankUsed: number | null = null
  if (input.mlp === 'cpmoe' && input.experts !== undefined) {
    const rank = matchedCpRank(dims, input.experts)
    matched = { rank, ranks: null }
    rankUsed = input.rank ?? rank
  } else if (input.mlp === 'trmoe' && input.experts !== undefined) {
    const ranks = matchedTrRanks(dims, input.experts)
    matched = { rank: ranks.r3, ranks }
    rankUsed = input.rank ?? ranks.r3
  }
  const settings =
    input.tokens === undefined ? null : trainSettings({ ...input, tokens: input.tokens, lr: 1e-3, seed: 0 } as PretrainConfig)
  const modelsDir = join(ctx.store.dir, 'models')
  const out = input.outName === undefined ? null : join(modelsDir, input.outName)
  const outExists = out !== null && existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0)
  return {
    params: {
      embeddings: counts.embeddings,
      attention: counts.attention,
      mlp: counts.mlp,
      layerNorms: counts.layerNorms,
      total: counts.total,
    },
    mlpPerBlock: counts.mlpPerBlock,
    denseMlpPerBlock: counts.denseMlpPerBlock,
    matched,
    rankUsed,
    steps: settings?.totalSteps ?? null,
    warmupSteps: settings?.warmupSteps ?? null,
    estimate: input.tokens === undefined ? null : estimate(ctx, { ...input, batch: input.batch }, input.tokens),
    out,
    outExists,
    modelsDir,
    bundledCorpus: bundledCorpus(ctx),
  }
}
