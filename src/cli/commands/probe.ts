// `mxd probe --run ID --data PATH`: sparse probing of a layer run on a labelled task (job kind
// probe, docs/probing.md), followed to the end in this process; `mxd probe list`: the probe runs
// in the store as one comparison table.
import { PROBE_LIMITS, type ProbeResult, type ProbeRow } from '../../shared/probe.js'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import { followRun } from '../follow.js'
import { numberOption, stringOption } from '../model-options.js'

const USAGE = [
  'mxd probe --run ID --data PATH|ID [--text-field F] [--label-field F] [--seed N] [--max-examples N] [--json]',
  '       mxd probe list [--json]',
].join('\n')

const fixed = (v: number | null, digits = 3): string => (v === null ? '—' : v.toFixed(digits))

function resultText(r: ProbeResult): string {
  const lines = [
    `${r.layer.kind} layer of block ${r.layer.block} (run ${r.layer.runId}, k = ${r.layer.k}, ${r.layer.width} units) on ${r.task.name}: ${r.task.examples} examples, ` +
      `split ${r.split.train} / ${r.split.validation} / ${r.split.test} (train / validation / test, seed ${r.split.seed})`,
    'class                         unit     test F1  test bal.acc  val F1   (test-chosen F1)',
  ]
  for (const c of r.classes) {
    lines.push(
      `${c.label.slice(0, 28).padEnd(28)} ${String(c.unit ?? '—').padStart(6)}   ${fixed(c.test.f1).padStart(7)}  ${fixed(c.test.balancedAccuracy).padStart(12)}  ${fixed(c.validation.f1).padStart(6)}   (${fixed(c.testChosen.f1)})`,
    )
  }
  lines.push(
    `${'mean'.padEnd(28)} ${''.padStart(6)}   ${fixed(r.mean.f1).padStart(7)}  ${fixed(r.mean.balancedAccuracy).padStart(12)}          (${fixed(r.mean.testChosenF1)})`,
    'Units are chosen on the validation split; the test-chosen F1 (the official code\'s choice) reads the test labels and is optimistic.',
  )
  return lines.join('\n')
}

function tableText(rows: ProbeRow[]): string {
  const lines = ['  run  layer run  kind              block     k   width  task                       mean F1  mean bal.acc  status']
  for (const r of rows) {
    lines.push(
      `${String(r.runId).padStart(5)}  ${String(r.layerRunId).padStart(9)}  ${(r.kind ?? '—').padEnd(16)}  ${String(r.block ?? '—').padStart(5)}  ${String(r.k ?? '—').padStart(4)}  ${String(r.width ?? '—').padStart(6)}  ${(r.task ?? '—').slice(0, 25).padEnd(25)}  ${fixed(r.meanF1).padStart(7)}  ${fixed(r.meanBalancedAccuracy).padStart(12)}  ${r.status}`,
    )
  }
  return rows.length === 0 ? 'no probe runs yet: start one with "mxd probe --run ID --data PATH"' : lines.join('\n')
}

export const probeCommand: Command = {
  name: 'probe',
  summary: 'Sparse probing: how well the single best unit of a converted or imported layer tells each label of a labelled task (.csv/.jsonl) from the rest.',
  usage: USAGE,
  options: {
    run: { type: 'string' },
    data: { type: 'string' },
    'text-field': { type: 'string' },
    'label-field': { type: 'string' },
    seed: { type: 'string' },
    'max-examples': { type: 'string' },
  },
  async run(ctx) {
    const [sub, ...extra] = ctx.positionals
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
    if (sub === 'list') {
      const backend = await ctx.backend()
      const list = await backend.call('probe.list', {})
      if (ctx.json) ctx.printJson(list)
      else ctx.print(tableText(list.runs))
      return 0
    }
    if (sub !== undefined) throw new UsageError(`unknown subcommand "${sub}": mxd probe --run ID --data PATH, or mxd probe list`)
    const raw = stringOption(ctx, 'run')
    if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError('--run ID is required (the conversion or imported layer run)')
    const data = stringOption(ctx, 'data')
    if (data === undefined) throw new UsageError('--data PATH is required (a .csv or .jsonl file with a text and a label per example, or a registered dataset id)')
    const textField = stringOption(ctx, 'text-field')
    const labelField = stringOption(ctx, 'label-field')
    const backend = await ctx.backend()
    const { runId } = await backend.call('probe.start', {
      layerRunId: Number(raw),
      data: /^\d+$/.test(data) ? Number(data) : data,
      ...(textField !== undefined ? { textField } : {}),
      ...(labelField !== undefined ? { labelField } : {}),
      ...(stringOption(ctx, 'seed') !== undefined ? { seed: numberOption(ctx, 'seed', 0, 0, 2 ** 31 - 1, true) } : {}),
      ...(stringOption(ctx, 'max-examples') !== undefined ? { maxExamples: numberOption(ctx, 'max-examples', 0, 1, PROBE_LIMITS.maxExamples, true) } : {}),
    })
    if (!ctx.json) ctx.print(`run ${runId}: probing run ${raw}'s layer on ${data}`)
    const detail = await followRun(ctx, backend, runId)
    const state = await backend.call('probe.get', { runId })
    if (ctx.json) ctx.printJson(state)
    else if (state.result) ctx.print(resultText(state.result))
    else ctx.print(`run ${runId} ${detail.run.status}${detail.run.error ? `: ${detail.run.error}` : ''}`)
    return detail.run.status === 'succeeded' ? 0 : 1
  },
}
