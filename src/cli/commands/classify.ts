// `mxd classify SUBCOMMAND`: image classifiers (docs/classifiers.md, "Training").
//   train — trains one (job classify-train) and follows it; --resume RUN continues a run.
//   eval  — evaluates a trained run on its test split or another dataset (job classify-eval).
// Each subcommand is one entry of SUBCOMMANDS below, with its own usage line; `experts` (the
// expert specialisation of a μMoE mixer) lives in classify-experts.ts.
import { resolve } from 'node:path'
import type { Backend } from '../../backend/backend.js'
import { ClassifyStartRequest, type ClassifyEvaluation, type ClassifyRunState } from '../../shared/classify.js'
import type { Command, CommandContext } from '../command.js'
import { UsageError } from '../command.js'
import { followRun } from '../follow.js'
import { CLASSIFY_EXPERTS_USAGE, runClassifyExperts } from './classify-experts.js'

interface Subcommand {
  usage: string
  run(ctx: CommandContext, args: string[]): Promise<number>
}

export function number(flag: string, text: string): number {
  const n = Number(text.replaceAll('_', ''))
  if (!Number.isFinite(n)) throw new UsageError(`--${flag} takes a number, not "${text}"`)
  return n
}

export const str = (ctx: CommandContext, name: string): string | undefined => {
  const v = ctx.values[name]
  return typeof v === 'string' ? v : undefined
}

/** An id (digits) or a path, absolute so the run reads the same folder from any directory. */
const idOrPath = (text: string): number | string => (/^\d+$/.test(text) ? Number(text) : resolve(text))

/** Model flags → the model's config; the registry refuses a flag that model does not have. */
const MODEL_FLAGS = { hidden: 'hidden', mlp: 'mlp', experts: 'experts', rank: 'rank', patch: 'patch', depth: 'depth', 'token-mixing': 'tokenMixing', 'channel-mixing': 'channelMixing' } as const

function trainRequest(ctx: CommandContext): ClassifyStartRequest {
  const data = str(ctx, 'data')
  if (data === undefined) throw new UsageError('--data ID|PATH is required (a registered image dataset, an IDX folder or a folder of images by class)')
  const model = str(ctx, 'model')
  if (model === undefined) throw new UsageError('--model logreg|mlp|mixer is required')
  const modelConfig: Record<string, number | string> = {}
  for (const [flag, key] of Object.entries(MODEL_FLAGS)) {
    const v = str(ctx, flag)
    if (v !== undefined) modelConfig[key] = flag === 'mlp' ? v : number(flag, v)
  }
  const optimizer: Record<string, unknown> = {}
  if (str(ctx, 'optimizer') !== undefined) optimizer.kind = str(ctx, 'optimizer')
  for (const [flag, key] of [['lr', 'lr'], ['weight-decay', 'weightDecay'], ['momentum', 'momentum']] as const) {
    const v = str(ctx, flag)
    if (v !== undefined) optimizer[key] = number(flag, v)
  }
  const schedule: Record<string, unknown> = {}
  if (str(ctx, 'schedule') !== undefined) schedule.kind = str(ctx, 'schedule')
  if (str(ctx, 'warmup') !== undefined) schedule.warmup = number('warmup', str(ctx, 'warmup')!)
  const raw: Record<string, unknown> = {
    data: idOrPath(data),
    model,
    modelConfig,
    optimizer,
    schedule,
    augment: { flip: ctx.values.flip === true, cropPadding: str(ctx, 'crop') === undefined ? 0 : number('crop', str(ctx, 'crop')!) },
  }
  for (const [flag, key] of [['epochs', 'epochs'], ['batch', 'batch'], ['seed', 'seed'], ['checkpoint-seconds', 'checkpointSeconds'], ['train-images', 'trainImages']] as const) {
    const v = str(ctx, flag)
    if (v !== undefined) raw[key] = number(flag, v)
  }
  const parsed = ClassifyStartRequest.safeParse(raw)
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; '))
  return parsed.data
}

const pct = (x: number | null): string => (x === null ? '—' : `${(100 * x).toFixed(2)}%`)

function evaluationText(e: ClassifyEvaluation): string[] {
  const width = Math.min(24, Math.max(5, ...e.classes.map((c) => c.length)))
  return [
    `accuracy ${pct(e.accuracy)} (${e.correct}/${e.images}) on ${e.dataset.name} (${e.dataset.split})`,
    `  ${'class'.padEnd(width)}  images  accuracy`,
    ...e.classes.map((c, i) => `  ${c.slice(0, width).padEnd(width)}  ${String(e.perClass[i]!.images).padStart(6)}  ${pct(e.perClass[i]!.accuracy).padStart(8)}`),
  ]
}

async function finish(ctx: CommandContext, backend: Backend, runId: number): Promise<number> {
  const detail = await followRun(ctx, backend, runId)
  const state: ClassifyRunState = await backend.call('classify.get', { runId })
  if (ctx.json) ctx.printJson(state)
  else {
    ctx.print(`run ${runId} ${detail.run.status}${detail.run.error ? `: ${detail.run.error}` : ''}`)
    if (state.train) {
      for (const e of state.train.epochs) ctx.print(`  epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, train ${pct(e.trainAccuracy)}, validation ${pct(e.validationAccuracy)}`)
      ctx.print(`  ${state.train.parameters.toLocaleString('en')} parameters, ${state.train.trainSeconds.toFixed(1)} s, ${state.train.samplesPerSecond.toFixed(0)} images/s`)
      for (const line of evaluationText(state.train.test)) ctx.print(`  ${line}`)
    }
    if (state.evaluation) for (const line of evaluationText(state.evaluation)) ctx.print(`  ${line}`)
  }
  return detail.run.status === 'succeeded' ? 0 : 1
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  train: {
    usage:
      'mxd classify train --data ID|PATH --model logreg|mlp|mixer [--hidden N] [--mlp dense|cpmoe|trmoe --experts E --rank R] [--patch P] [--depth D] ' +
      '[--epochs N] [--batch B] [--train-images N] [--optimizer adamw|sgd] [--lr LR] [--weight-decay W] [--momentum M] [--schedule constant|cosine --warmup STEPS] ' +
      '[--flip] [--crop PAD] [--seed S] [--checkpoint-seconds S] [--json]\n       mxd classify train --resume RUN [--json]',
    async run(ctx, args) {
      if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`)
      const backend = await ctx.backend()
      const resume = str(ctx, 'resume')
      if (resume !== undefined) {
        const runId = number('resume', resume)
        await backend.call('jobs.resume', { id: runId })
        if (!ctx.json) ctx.print(`run ${runId}: resuming classifier training from its last checkpoint`)
        return finish(ctx, backend, runId)
      }
      const request = trainRequest(ctx)
      const { runId, datasetId } = await backend.call('classify.start', request)
      if (!ctx.json) ctx.print(`run ${runId}: training a ${request.model} on image dataset #${datasetId}`)
      return finish(ctx, backend, runId)
    },
  },
  eval: {
    usage: 'mxd classify eval --run ID [--data ID|PATH] [--split test|validation|train] [--json]',
    async run(ctx, args) {
      if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`)
      const run = str(ctx, 'run')
      if (run === undefined || !/^\d+$/.test(run)) throw new UsageError('--run ID is required (a finished classify train run)')
      const split = str(ctx, 'split')
      if (split !== undefined && !['test', 'validation', 'train'].includes(split)) throw new UsageError(`--split is test, validation or train, not "${split}"`)
      const data = str(ctx, 'data')
      const backend = await ctx.backend()
      const { runId } = await backend.call('classify.evaluate', {
        trainRunId: Number(run),
        ...(data !== undefined ? { data: idOrPath(data) } : {}),
        ...(split !== undefined ? { split: split as 'test' | 'validation' | 'train' } : {}),
      })
      if (!ctx.json) ctx.print(`run ${runId}: evaluating classifier run ${run}`)
      return finish(ctx, backend, runId)
    },
  },
  experts: {
    usage: CLASSIFY_EXPERTS_USAGE,
    async run(ctx, args) {
      if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`)
      return runClassifyExperts(ctx)
    },
  },
}

const STRING_OPTIONS = ['data', 'model', 'optimizer', 'lr', 'weight-decay', 'momentum', 'schedule', 'warmup', 'crop', 'epochs', 'batch', 'seed', 'checkpoint-seconds', 'train-images', 'resume', 'run', 'split', 'dir', 'max-images', ...Object.keys(MODEL_FLAGS)]

export const classify: Command = {
  name: 'classify',
  summary:
    'Image classifiers: "train" trains logistic regression, an MLP or an MLP-Mixer (dense or μMoE) on an image dataset; "eval" measures a trained one; "experts" shows what a μMoE mixer\'s experts specialise in.',
  usage: Object.values(SUBCOMMANDS)
    .map((s) => s.usage)
    .join('\n       '),
  options: {
    ...Object.fromEntries(STRING_OPTIONS.map((o) => [o, { type: 'string' as const }])),
    flip: { type: 'boolean', default: false },
  },
  async run(ctx) {
    const [sub, ...args] = ctx.positionals
    const entry = sub === undefined ? undefined : SUBCOMMANDS[sub]
    if (!entry) throw new UsageError(`${sub === undefined ? 'a subcommand is needed' : `unknown subcommand "${sub}"`}: ${Object.keys(SUBCOMMANDS).join(', ')}`)
    return entry.run(ctx, args)
  },
}
