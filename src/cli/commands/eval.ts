import { EVAL_METRICS } from '../../shared/convert-eval.js'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import { finalMetrics, followRun } from '../follow.js'
import { numberOption, stringOption } from '../model-options.js'

const ROWS: [string, string][] = [
  ['NMSE  Σ‖ŷ−y‖²/Σ‖y‖²', EVAL_METRICS.nmse],
  ['FVU', EVAL_METRICS.fvu],
  ['explained variance', EVAL_METRICS.explainedVariance],
  ['L0 (non-zeros / token)', EVAL_METRICS.l0],
  ['dead fraction', EVAL_METRICS.deadFraction],
  ['CE clean', EVAL_METRICS.ceClean],
  ['CE spliced', EVAL_METRICS.ceSpliced],
  ['CE zero-ablation', EVAL_METRICS.ceZero],
  ['loss recovered', EVAL_METRICS.lossRecovered],
  ['tokens', EVAL_METRICS.tokens],
]

export const evalCommand: Command = {
  name: 'eval',
  summary: "Evaluates a run's layer on held-out tokens (NMSE, FVU, L0, CE clean/spliced/zero, loss recovered) and stores the metrics on it.",
  usage: 'mxd eval --run ID [--model DIR] [--data PATH] [--tokens N] [--batch N] [--ctx N] [--seed N] [--json]',
  options: {
    run: { type: 'string' },
    model: { type: 'string', short: 'm' },
    data: { type: 'string' },
    tokens: { type: 'string' },
    batch: { type: 'string' },
    ctx: { type: 'string' },
    seed: { type: 'string' },
  },
  async run(ctx) {
    const runArg = stringOption(ctx, 'run')
    if (runArg === undefined || !/^\d+$/.test(runArg)) throw new UsageError('--run ID is required (the conversion or imported run to evaluate)')
    const overrides = {
      ...(stringOption(ctx, 'model') !== undefined ? { model: stringOption(ctx, 'model') } : {}),
      ...(stringOption(ctx, 'data') !== undefined ? { data: stringOption(ctx, 'data') } : {}),
      ...(stringOption(ctx, 'tokens') !== undefined ? { tokens: numberOption(ctx, 'tokens', 0, 1, 1e9, true) } : {}),
      ...(stringOption(ctx, 'batch') !== undefined ? { batch: numberOption(ctx, 'batch', 0, 1, 1024, true) } : {}),
      ...(stringOption(ctx, 'ctx') !== undefined ? { ctx: numberOption(ctx, 'ctx', 0, 2, 65_536, true) } : {}),
      ...(stringOption(ctx, 'seed') !== undefined ? { seed: numberOption(ctx, 'seed', 0, 0, 2 ** 31 - 1, true) } : {}),
    }
    const backend = await ctx.backend()
    const evaluated = Number(runArg)
    const { runId } = await backend.call('convert.evaluate', { runId: evaluated, ...overrides })
    if (!ctx.json) ctx.print(`run ${runId}: evaluating the layer of run ${evaluated} on held-out tokens`)
    const detail = await followRun(ctx, backend, runId)
    const metrics = finalMetrics(detail)
    const notes = detail.log.filter((l) => l.level === 'warn').map((l) => l.message)
    if (ctx.json) ctx.printJson({ run: detail.run, evaluated, metrics, notes })
    else {
      if (detail.run.status === 'succeeded') {
        const width = Math.max(...ROWS.map(([label]) => label.length))
        for (const [label, name] of ROWS) {
          const v = metrics[name]
          ctx.print(`  ${label.padEnd(width)}  ${v === undefined ? '—' : Number.isInteger(v) ? String(v) : v.toFixed(6)}`)
        }
        for (const n of notes) ctx.print(`  note: ${n}`)
      }
      ctx.print(`run ${runId} ${detail.run.status}${detail.run.error ? `: ${detail.run.error}` : ''}`)
    }
    return detail.run.status === 'succeeded' ? 0 : 1
  },
}
