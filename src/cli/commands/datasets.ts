import { resolve } from 'node:path'
import type { Dataset } from '../../shared/api.js'
import { formatMalformed } from '../../data/malformed.js'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'

export const datasets: Command = {
  name: 'datasets',
  summary: 'Lists the registered text datasets; "add PATH" registers a .txt, .jsonl or .parquet file (or a folder of them), or updates it.',
  usage: 'mxd datasets [--json]\n       mxd datasets add PATH [--text-field NAME] [--held-out FRACTION] [--json]',
  options: { 'text-field': { type: 'string' }, 'held-out': { type: 'string' } },
  async run(ctx) {
    const [sub, ...rest] = ctx.positionals
    if (sub === undefined) {
      const list = await (await ctx.backend()).call('datasets.list', {})
      if (ctx.json) ctx.printJson(list)
      else if (list.length === 0) ctx.print('No datasets yet. Try: mxd datasets add PATH')
      else for (const d of list) ctx.print(summaryLine(d))
      return 0
    }
    if (sub !== 'add') throw new UsageError(`unknown subcommand "${sub}"`)
    if (rest.length !== 1) throw new UsageError('add takes one PATH: a dataset file or folder')
    const heldOut = ctx.values['held-out']
    const heldOutFraction = typeof heldOut === 'string' ? Number(heldOut) : undefined
    if (heldOutFraction !== undefined && !(heldOutFraction >= 0 && heldOutFraction < 1)) {
      throw new UsageError(`--held-out is a fraction of documents in [0, 1), such as 0.05, not "${String(heldOut)}"`)
    }
    const textField = ctx.values['text-field']
    const backend = await ctx.backend()
    // Relative to where the command runs, not to the back end's working folder.
    const d = await backend.call('datasets.add', {
      path: resolve(rest[0]!),
      ...(typeof textField === 'string' ? { textField } : {}),
      ...(heldOutFraction !== undefined ? { heldOutFraction } : {}),
    })
    if (ctx.json) {
      ctx.printJson(d)
      return 0
    }
    ctx.print(summaryLine(d))
    if (d.previousSha256) ctx.print(`  its content changed since it was last registered (was sha256 ${d.previousSha256.slice(0, 12)}…)`)
    if (d.malformed.count > 0) {
      ctx.print(
        `  ${d.malformed.count} unusable line${d.malformed.count === 1 ? '' : 's'} skipped${d.malformed.count > d.malformed.examples.length ? '; the first:' : ':'}`,
      )
      for (const e of d.malformed.examples) ctx.print(`    ${formatMalformed(e)}`)
    }
    return 0
  },
}

function summaryLine(d: Dataset): string {
  const size = d.kind === 'tokens' ? `${d.tokens ?? 0} tokens` : `${d.characters} characters`
  const status = d.status === 'ok' ? '' : ` · ${d.status} since registered: run "mxd datasets add ${d.path}" again`
  return (
    `${String(d.id).padStart(4)}  ${d.name} · ${d.format}${d.kind === 'tokens' ? ' (pre-tokenized)' : ''} · ${d.documents} documents, ${size}` +
    ` · ${d.heldOutDocuments} held out · sha256 ${d.sha256.slice(0, 12)}…${d.malformed.count ? ` · ${d.malformed.count} unusable lines` : ''}${status}`
  )
}
