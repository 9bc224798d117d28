import { resolve } from 'node:path'
import { PretrainConfig } from '../../shared/api.js'
import type { Command, CommandContext } from '../command.js'
import { UsageError } from '../command.js'
import { finalMetrics, followRun } from '../follow.js'

const NUMBERS = {
  layers: 'layers',
  'd-model': 'dModel',
  heads: 'heads',
  ctx: 'ctx',
  experts: 'experts',
  rank: 'rank',
  tokens: 'tokens',
  batch: 'batch',
  lr: 'lr',
  warmup: 'warmup',
  seed: 'seed',
  vocab: 'vocabSize',
  'eval-every': 'evalEvery',
  'eval-sequences': 'evalSequences',
  'checkpoint-every': 'checkpointEvery',
} as const

function number(flag: string, text: string): number {
  // 1e6 and 2_000_000 are both handy for token budgets.
  const n = Number(text.replaceAll('_', ''))
  if (!Number.isFinite(n)) throw new UsageError(`--${flag} takes a number, not "${text}"`)
  return n
}

function parseConfig(ctx: CommandContext): PretrainConfig {
  const v = ctx.values
  const raw: Record<string, unknown> = {}
  for (const [flag, key] of Object.entries(NUMBERS)) {
    const text = v[flag]
    if (typeof text === 'string') raw[key] = number(flag, text)
  }
  for (const required of ['data', 'out', 'layers', 'd-model', 'heads', 'ctx', 'tokens']) {
    if (v[required] === undefined) throw new UsageError(`--${required} is required`)
  }
  raw.data = resolve(v.data as string)
  raw.out = resolve(v.out as string)
  if (typeof v.tokenizer === 'string') raw.tokenizer = resolve(v.tokenizer)
  if (typeof v.mlp === 'string') raw.mlp = v.mlp
  if (typeof v.dtype === 'string') raw.dtype = v.dtype.toUpperCase()
  const parsed = PretrainConfig.safeParse(raw)
  if (!parsed.success) {
    throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; '))
  }
  return parsed.data
}

export const pretrain: Command = {
  name: 'pretrain',
  summary: 'Pre-trains a GPT-2 (dense, CPμMoE or TRμMoE MLPs) on a text dataset in a worker and saves a Hugging Face model folder.',
  usage:
    'mxd pretrain --data PATH --layers N --d-model D --heads H --ctx C [--mlp dense|cpmoe|trmoe --experts E --rank R] --tokens T --out DIR ' +
    '[--batch B] [--lr LR] [--warmup STEPS] [--seed S] [--tokenizer DIR | --vocab V] [--eval-every N] [--eval-sequences N] [--checkpoint-every N] [--dtype f32|f16] [--json]\n' +
    '       mxd pretrain --resume RUN [--json]',
  options: {
    data: { type: 'string' },
    out: { type: 'string' },
    tokenizer: { type: 'string' },
    mlp: { type: 'string' },
    dtype: { type: 'string' },
    resume: { type: 'string' },
    ...Object.fromEntries(Object.keys(NUMBERS).map((flag) => [flag, { type: 'string' as const }])),
  },
  async run(ctx) {
    const backend = await ctx.backend()
    let runId: number
    if (typeof ctx.values.resume === 'string') {
      runId = number('resume', ctx.values.resume)
      await backend.call('jobs.resume', { id: runId })
      if (!ctx.json) ctx.print(`run ${runId}: resuming pre-training from its last checkpoint`)
    } else {
      const config = parseConfig(ctx)
      runId = (await backend.call('pretrain.start', config)).runId
      if (!ctx.json) {
        const mlp = config.mlp === 'dense' ? 'dense MLP' : `${config.mlp} MLP, ${config.experts} experts`
        ctx.print(`run ${runId}: pre-training ${config.layers}×${config.dModel} (${config.heads} heads, ctx ${config.ctx}, ${mlp}) on ${config.tokens} tokens of ${config.data}`)
      }
    }
    const detail = await followRun(ctx, backend, runId)
    const metrics = finalMetrics(detail)
    if (ctx.json) ctx.printJson({ run: detail.run, metrics })
    else {
      const shown = ['loss', 'heldout_loss', 'tokens_per_s'].filter((k) => metrics[k] !== undefined)
      ctx.print(`run ${runId} ${detail.run.status}${detail.run.error ? `: ${detail.run.error}` : ''}`)
      if (shown.length > 0) ctx.print('  ' + shown.map((k) => `${k} ${metrics[k]!.toFixed(k === 'tokens_per_s' ? 0 : 4)}`).join(', '))
      if (detail.run.status === 'succeeded') ctx.print(`  model: ${String(detail.run.config.out)}`)
    }
    return detail.run.status === 'succeeded' ? 0 : 1
  },
}
