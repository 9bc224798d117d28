// `mxd classify experts`: the expert specialisation of a trained μMoE mixer on an image split (job
// kind image-experts, docs/image-experts.md): the subcommand's body and its text report; `mxd
// classify` (classify.ts) lists it with its other subcommands.
import { resolve } from 'node:path'
import type { ImageExpertAnalysis, ImageExpertReport, ImageExpertsSummary } from '../../shared/image-experts.js'
import { ImageSplitName } from '../../shared/images.js'
import { UsageError, type CommandContext } from '../command.js'
import { followRun } from '../follow.js'
import { numberOption, stringOption } from '../model-options.js'

const pct = (x: number): string => `${(100 * x).toFixed(0)}%`

function summaryLine(s: ImageExpertsSummary): string {
  return `${s.active}/${s.experts} experts active; dominated by one class ${pct(s.dominated)}; class entropy mean ${s.meanClassEntropy.toFixed(2)} bits, median ${s.medianClassEntropy.toFixed(2)}`
}

function expertLine(x: ImageExpertReport, classes: readonly string[]): string {
  const tag = x.dominatedBy ? `${x.dominatedBy} ${pct(Math.max(...x.classBalanced))}` : x.active ? `— (top ${x.topClass})` : 'inactive'
  const top = x.topImages
    .slice(0, 8)
    .map((t) => `#${t.index}:${classes[t.label] ?? t.label}`)
    .join(' ')
  return `  e${String(x.expert).padEnd(4)} mass ${pct(x.massShare).padStart(4)}  ${tag.padEnd(24)} ${top}`
}

export function imageExpertsReport(a: ImageExpertAnalysis): string {
  const lines = [
    `${a.model}: ${a.mlp} mixer, ${a.nExperts} experts × ${a.nBlocks} block${a.nBlocks === 1 ? '' : 's'}; ${a.data.images} images of the ${a.data.split} split of dataset #${a.data.datasetId}`,
    `image weight = the gate weight averaged over the ${a.patches} patch tokens; dominated = one class ≥ ${pct(a.thresholds.classShare)} of the expert's mass, raw and balanced for class frequencies`,
    `all blocks: ${summaryLine(a.summary)}`,
  ]
  for (const block of a.blocks) {
    lines.push('', `block ${block.block}: ${summaryLine(block.summary)}`, '  expert mass  dominated by             top images (#index:class)')
    lines.push(...block.experts.map((x) => expertLine(x, a.classes)))
  }
  return lines.join('\n')
}

export const CLASSIFY_EXPERTS_USAGE = 'mxd classify experts (--run ID | --dir DIR) --data ID|PATH [--split train|validation|test] [--max-images N] [--json]'

/** The subcommand's body: (--run ID | --dir DIR) --data ID|PATH [--split S] [--max-images N]; returns the exit code. */
export async function runClassifyExperts(ctx: CommandContext): Promise<number> {
  const run = stringOption(ctx, 'run')
  const dir = stringOption(ctx, 'dir')
  if ((run === undefined) === (dir === undefined)) throw new UsageError('give --run ID (a classifier training run) or --dir DIR (a saved classifier folder)')
  const source = run !== undefined ? { trainRunId: numberOption(ctx, 'run', 0, 1, Number.MAX_SAFE_INTEGER, true) } : { model: resolve(dir!) }
  const data = stringOption(ctx, 'data')
  if (!data) throw new UsageError('--data is required: an image dataset id (mxd images list) or folder')
  const split = ImageSplitName.safeParse(stringOption(ctx, 'split') ?? 'test')
  if (!split.success) throw new UsageError('--split must be train, validation or test')
  const maxImages = ctx.values['max-images'] === undefined ? undefined : numberOption(ctx, 'max-images', 0, 1, 10_000_000, true)
  const backend = await ctx.backend()
  // A folder is registered first (images.add keeps the id of a path added before).
  const datasetId = /^\d+$/.test(data) ? Number(data) : (await backend.call('images.add', { path: resolve(data) })).id
  const { runId } = await backend.call('classify.analyzeExperts', { ...source, datasetId, split: split.data, ...(maxImages === undefined ? {} : { maxImages }) })
  await followRun(ctx, backend, runId)
  const result = await backend.call('classify.getExperts', { runId })
  if (ctx.json) ctx.printJson(result)
  else if (result.analysis) ctx.print(imageExpertsReport(result.analysis))
  else ctx.print(`run ${runId} ${result.status}${result.error ? `: ${result.error}` : ''}`)
  return result.status === 'succeeded' ? 0 : 1
}
