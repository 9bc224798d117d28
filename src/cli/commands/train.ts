// `mxd train`: converts one MLP layer into a sparse layer (MxD, TopK transcoder or skip
// transcoder) as a queued run in this process, following it to the end; then, unless --no-eval,
// the held-out evaluation queued behind it. `--resume RUN` continues a cancelled, failed or
// interrupted (e.g. killed) run from its last checkpoint, at a new learning rate with --lr.
import { ConvertConfig } from '../../shared/convert.js'
import { layerKind, layerKinds } from '../../shared/layer-kinds/index.js'
import type { Backend } from '../../backend/backend.js'
import type { RunDetail } from '../../shared/api.js'
import type { Command, CommandContext } from '../command.js'
import { UsageError } from '../command.js'
import { finalMetrics, followRun } from '../follow.js'

const NUMBERS = {
  layer: 'layer',
  experts: 'experts',
  width: 'width',
  k: 'k',
  hidden: 'hidden',
  lr: 'lr',
  warmup: 'warmup',
  batch: 'batch',
  tokens: 'tokens',
  ctx: 'ctx',
  seed: 'seed',
  'buffer-rows': 'bufferRows',
  'checkpoint-steps': 'checkpointSteps',
  'checkpoint-seconds': 'checkpointSeconds',
  'eval-tokens': 'evalTokens',
} as const

function parseConfig(ctx: CommandContext): ConvertConfig {
  const v = ctx.values
  const raw: Record<string, unknown> = {}
  for (const [flag, key] of Object.entries(NUMBERS)) {
    const text = v[flag]
    if (typeof text !== 'string') continue
    const n = Number(text.replaceAll('_', '')) // 1e6 and 1_000_000 both work for budgets
    if (!Number.isFinite(n)) throw new UsageError(`--${flag} takes a number, not "${text}"`)
    raw[key] = n
  }
  for (const required of ['model', 'layer', 'data']) if (v[required] === undefined) throw new UsageError(`--${required} is required`)
  raw.model = v.model
  raw.data = /^\d+$/.test(v.data as string) ? Number(v.data) : v.data
  if (typeof v.kind === 'string') raw.kind = v.kind.replaceAll('-', '_')
  if (typeof v.act === 'string') raw.act = v.act
  if (typeof v['text-field'] === 'string') raw.textField = v['text-field']
  if (v['no-eval'] === true) raw.evaluate = false
  if (v['skip-bos'] === true) raw.trainOnBos = false
  const parsed = ConvertConfig.safeParse(raw)
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; '))
  return parsed.data
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MiB`
}

/** --lr with --resume (the only setting a resume may change); other config flags are refused. */
function parseResumeLr(ctx: CommandContext): number | undefined {
  const others = Object.keys(NUMBERS).filter((f) => f !== 'lr' && ctx.values[f] !== undefined)
  for (const f of ['model', 'data', 'kind', 'act', 'text-field']) if (ctx.values[f] !== undefined) others.push(f)
  if (ctx.values['skip-bos'] === true) others.push('skip-bos')
  if (others.length > 0)
    throw new UsageError(`--resume continues a run as it was configured; only --lr may change (not --${others.join(', --')})`)
  const text = ctx.values.lr
  if (typeof text !== 'string') return undefined
  const lr = Number(text)
  if (!(lr > 0 && lr <= 1)) throw new UsageError(`--lr takes a learning rate in (0, 1], not "${text}"`)
  return lr
}

/** The held-out evaluation queued behind a finished conversion run, if any. */
async function followEvaluation(ctx: CommandContext, backend: Backend, trainRunId: number): Promise<RunDetail | undefined> {
  const evalRun = (await backend.call('runs.list', { kind: 'convert-eval', limit: 50 })).find((r) => r.config.trainRunId === trainRunId)
  if (!evalRun) return undefined
  if (!ctx.json) ctx.print(`run ${evalRun.id}: evaluating on held-out tokens`)
  return followRun(ctx, backend, evalRun.id)
}

export const train: Command = {
  name: 'train',
  summary:
    "Converts a model's MLP layer into a Mixture of Decoders (or a TopK / skip transcoder) trained on a dataset, then evaluates it on held-out text.",
  usage:
    `mxd train --model DIR --layer L --data PATH|ID --kind ${layerKinds()
      .map((d) => d.id.replaceAll('_', '-'))
      .join('|')} ` +
    '[--experts N] [--width S] [--k K] [--hidden H] [--act gelu|glu] ' +
    '[--lr LR] [--warmup STEPS] [--batch B] [--tokens T] [--ctx C] [--seed S] [--buffer-rows R] [--checkpoint-steps N] [--checkpoint-seconds S] [--text-field F] [--eval-tokens N] [--no-eval] [--skip-bos] [--json]\n' +
    '       mxd train --resume RUN [--lr LR] [--json]',
  options: {
    model: { type: 'string', short: 'm' },
    data: { type: 'string' },
    kind: { type: 'string' },
    act: { type: 'string' },
    'text-field': { type: 'string' },
    'no-eval': { type: 'boolean', default: false },
    /** Leave the BOS position's rows out of training (the default trains on them, as the official code). */
    'skip-bos': { type: 'boolean', default: false },
    resume: { type: 'string' },
    ...Object.fromEntries(Object.keys(NUMBERS).map((k) => [k, { type: 'string' as const }])),
  },
  async run(ctx) {
    const resume = ctx.values.resume
    if (resume !== undefined && !/^\d+$/.test(String(resume))) throw new UsageError(`--resume takes a run id, not "${String(resume)}"`)
    const resumeLr = resume === undefined ? undefined : parseResumeLr(ctx)
    const config = resume === undefined ? parseConfig(ctx) : undefined
    const backend = await ctx.backend()
    let runId: number
    if (config) {
      const preview = await backend.call('convert.preview', config)
      runId = (await backend.call('convert.start', config)).runId
      if (!ctx.json) {
        const p = preview.params
        const kind = layerKind(config.kind)
        const what = `${preview.width} ${kind.unit.many}` + (kind.usesHidden ? ` (H = ${preview.hidden}, ${preview.act})` : '')
        ctx.print(
          `run ${runId}: ${config.kind} with ${what}, K = ${preview.k}; ${p.layer.toLocaleString('en-US')} parameters ` +
            `(dense MLP ${p.denseMlp.toLocaleString('en-US')}, 32× transcoder ${p.transcoder32x.toLocaleString('en-US')}); ` +
            `${preview.steps} steps of ${config.batch} tokens, lr ${config.lr}, warm-up ${preview.warmup}; ` +
            `disk: up to ${preview.checkpointFilesPeak} checkpoints of ${mib(preview.checkpointBytes)} (${mib(preview.diskPeakBytes)} at peak)`,
        )
      }
    } else {
      runId = (await backend.call('jobs.resume', { id: Number(resume), ...(resumeLr !== undefined ? { lr: resumeLr } : {}) })).runId
      if (!ctx.json) {
        const from = (await backend.call('runs.get', { id: runId })).checkpoints.at(-1)
        const lr = resumeLr !== undefined ? ` with lr ${resumeLr}` : ''
        ctx.print(
          from
            ? `run ${runId}: resuming from its checkpoint at step ${from.step}${lr}`
            : `run ${runId}: no checkpoint yet: starting over${lr}`,
        )
      }
    }
    const detail = await followRun(ctx, backend, runId)
    const evaluated = detail.run.status === 'succeeded' ? await followEvaluation(ctx, backend, runId) : undefined
    // The evaluation writes its metrics (eval.*) onto the training run: read it again.
    const final = evaluated ? await backend.call('runs.get', { id: runId }) : detail
    const metrics = finalMetrics(final)
    if (ctx.json) ctx.printJson({ run: final.run, metrics, ...(evaluated ? { evalRun: evaluated.run } : {}) })
    else {
      for (const name of ['loss', 'nmse', 'l0', 'dead_fraction', 'tokens_per_s', 'harvest_tokens_per_s'])
        if (metrics[name] !== undefined) ctx.print(`  ${name.padEnd(22)} ${metrics[name].toPrecision(4)}`)
      for (const [name, value] of Object.entries(metrics))
        if (name.startsWith('eval.')) ctx.print(`  ${name.padEnd(22)} ${value.toPrecision(4)}`)
      ctx.print(`run ${runId} ${final.run.status}${final.run.error ? `: ${final.run.error}` : ''}`)
    }
    return final.run.status === 'succeeded' ? 0 : 1
  },
}
