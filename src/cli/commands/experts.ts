import type { ExpertAnalysis, ExpertReport, SpecialisationSummary } from '../../shared/experts.js'
import type { Command } from '../command.js'
import { followRun } from '../follow.js'
import { modelOption, numberOption, requireModelDir, stringOption } from '../model-options.js'

const pct = (x: number): string => `${(100 * x).toFixed(0)}%`

function summaryLine(s: SpecialisationSummary): string {
  const theme = s.byTheme === null ? '' : `, by theme ${pct(s.byTheme)}`
  return (
    `${s.active}/${s.experts} experts active; specialised ${pct(s.specialised)} (by class ${pct(s.byClass)}${theme}, by token ${pct(s.byToken)}); ` +
    `class entropy mean ${s.meanClassEntropy.toFixed(2)} bits, median ${s.medianClassEntropy.toFixed(2)}`
  )
}

function expertLine(x: ExpertReport): string {
  const tokens = x.topTokens
    .slice(0, 6)
    .map((t) => `${JSON.stringify(t.text)} ${t.weight.toFixed(1)}/${t.count}`)
    .join('  ')
  const tag = x.specialisedBy[0]
    ? `${x.specialisedBy[0].by} ${JSON.stringify(x.specialisedBy[0].label)} ${pct(x.specialisedBy[0].share)}`
    : x.active
      ? '—'
      : 'inactive'
  return `  e${String(x.expert).padEnd(4)} mass ${pct(x.massShare).padStart(4)}  ${tag.padEnd(28)} ${tokens}`
}

function report(a: ExpertAnalysis): string {
  const lines = [
    `${a.model}: ${a.nExperts} experts × ${a.nLayers} layers, ${a.text.tokens} held-out tokens of ${a.text.source}`,
    `specialised = one class or theme ≥ ${pct(a.thresholds.classShare)} of the gate mass, raw and balanced for base rates, or one token ≥ ${pct(a.thresholds.tokenShare)} of it`,
    `all layers: ${summaryLine(a.summary)}`,
  ]
  for (const layer of a.layers) {
    lines.push(
      '',
      `layer ${layer.layer}: ${summaryLine(layer.summary)}`,
      '  expert mass  specialised                  top tokens (Σ gate weight / count)',
    )
    lines.push(...layer.experts.map(expertLine))
  }
  return lines.join('\n')
}

export const experts: Command = {
  name: 'experts',
  summary:
    "Expert specialisation of a μMoE GPT-2 on held-out text: each expert's top tokens and contexts, and how many experts one class, theme or token dominates.",
  usage: 'mxd experts --model DIR [--tokens N] [--data PATH] [--json]',
  options: { ...modelOption, tokens: { type: 'string' }, data: { type: 'string' } },
  async run(ctx) {
    const dir = requireModelDir(ctx)
    const tokens = numberOption(ctx, 'tokens', 32_768, 64, 1_000_000, true)
    const data = stringOption(ctx, 'data')
    const backend = await ctx.backend()
    const model = await backend.call('models.add', { path: dir })
    const { runId } = await backend.call('experts.analyze', { modelId: model.id, tokens, ...(data ? { data } : {}) })
    await followRun(ctx, backend, runId)
    const result = await backend.call('experts.get', { runId })
    if (ctx.json) ctx.printJson(result)
    else if (result.analysis) ctx.print(report(result.analysis))
    else ctx.print(`run ${runId} ${result.status}${result.error ? `: ${result.error}` : ''}`)
    return result.status === 'succeeded' ? 0 : 1
  },
}
