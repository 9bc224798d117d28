// `mxd steer-score`: the steering score of units of a layer run (job kind steer-score,
// docs/steering.md): per unit, how much more often its top output tokens appear when it is
// steered than when it is not, with the steered text's perplexity under the clean model.
import type { SteerScoreResult } from '../../shared/steering.js'
import { STEERING_LIMITS } from '../../shared/steering.js'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import { followRun } from '../follow.js'
import { numberOption, parseIds, stringOption } from '../model-options.js'

function table(r: SteerScoreResult): string[] {
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`
  const lines = [
    `preset: ${r.presetName}; ${r.settings.samples} samples a side, ${r.settings.maxTokens} tokens, steering value ${r.settings.value}; baseline perplexity ${r.baseline.perplexity.toFixed(2)}`,
    'unit    steered   unsteered   score(pts)   ratio   perplexity   top tokens',
  ]
  for (const u of r.units) {
    const top = u.topTokens.slice(0, 5).map((t) => JSON.stringify(t.text ?? `#${t.id}`)).join(' ')
    lines.push(
      `${String(u.unit).padEnd(7)} ${pct(u.steered.rate).padStart(7)}   ${pct(u.unsteered.rate).padStart(9)}   ${(100 * u.score).toFixed(2).padStart(10)}   ${u.ratio.toFixed(2).padStart(5)}   ${u.perplexity.toFixed(2).padStart(10)}   ${top}`,
    )
  }
  return lines
}

export const steerScore: Command = {
  name: 'steer-score',
  summary: "Scores steering units of a layer run: how much more often each unit's top output tokens appear in steered than in unsteered samples (same seeds), and the steered text's perplexity under the clean model.",
  usage: 'mxd steer-score --run ID --units 1,2,3 [--samples N] [--preset ID] [--json]',
  options: {
    run: { type: 'string' },
    units: { type: 'string' },
    samples: { type: 'string' },
    preset: { type: 'string' },
  },
  async run(ctx) {
    const raw = stringOption(ctx, 'run')
    if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError('--run ID is required (the conversion or imported layer run)')
    const spec = stringOption(ctx, 'units')
    if (spec === undefined) throw new UsageError('--units 1,2,3 is required (the units to score)')
    const units = parseIds(spec, '--units')
    if (units.length > STEERING_LIMITS.maxScoreUnits) throw new UsageError(`--units takes at most ${STEERING_LIMITS.maxScoreUnits} units`)
    const backend = await ctx.backend()
    const { runId } = await backend.call('steering.score', {
      layerRunId: Number(raw),
      units,
      ...(stringOption(ctx, 'samples') !== undefined ? { samples: numberOption(ctx, 'samples', 10, 1, STEERING_LIMITS.maxSamples, true) } : {}),
      ...(stringOption(ctx, 'preset') !== undefined ? { presetId: numberOption(ctx, 'preset', 0, 0, 2 ** 31, true) } : {}),
    })
    if (!ctx.json) ctx.print(`run ${runId}: scoring ${units.length} unit(s) of run ${raw}`)
    const detail = await followRun(ctx, backend, runId)
    if (detail.run.status !== 'succeeded') {
      if (ctx.json) ctx.printJson({ run: detail.run })
      else ctx.print(`run ${runId} ${detail.run.status}${detail.run.error ? `: ${detail.run.error}` : ''}`)
      return 1
    }
    const result = await backend.call('steering.getScore', { runId })
    if (ctx.json) ctx.printJson({ runId, ...result })
    else for (const line of table(result)) ctx.print(line)
    return 0
  },
}
