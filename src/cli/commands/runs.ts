import type { Command } from '../command.js'
import { UsageError } from '../command.js'

export const runs: Command = {
  name: 'runs',
  summary: 'Lists the runs in the store, newest first; with --id, one run with its metrics and log.',
  usage: 'mxd runs [--id N] [--limit N] [--json]',
  options: { id: { type: 'string' }, limit: { type: 'string' } },
  async run(ctx) {
    const backend = await ctx.backend()
    if (typeof ctx.values.id === 'string') {
      const id = Number(ctx.values.id)
      if (!Number.isInteger(id) || id <= 0) throw new UsageError(`--id must be a run number, not "${ctx.values.id}"`)
      const detail = await backend.call('runs.get', { id })
      if (ctx.json) ctx.printJson(detail)
      else {
        const r = detail.run
        ctx.print(`run ${r.id} · ${r.kind} · ${r.status}${r.error ? ` · ${r.error}` : ''}`)
        for (const m of detail.metrics) ctx.print(`  ${m.name}[${m.step}] = ${m.value}`)
        for (const l of detail.log) ctx.print(`  ${l.at} ${l.level}: ${l.message}`)
      }
      return 0
    }
    const limit = typeof ctx.values.limit === 'string' ? Number(ctx.values.limit) : 500
    const list = await backend.call('runs.list', { limit })
    if (ctx.json) ctx.printJson(list)
    else if (list.length === 0) ctx.print('No runs yet. Try: mxd bench-backend')
    else
      for (const r of list) {
        const line = `${String(r.id).padStart(5)}  ${r.kind.padEnd(16)} ${r.status.padEnd(12)} ${r.createdAt}`
        // A failed run's reason belongs in the list (one line, so the table stays readable);
        // `mxd runs --id N` prints the whole message.
        ctx.print(r.status === 'failed' && r.error ? `${line}  ${firstLine(r.error)}` : line)
      }
    return 0
  },
}

/** The error's first line, cut at a word near ERROR_CHARS with an ellipsis. */
const ERROR_CHARS = 100
export function firstLine(error: string): string {
  const line = error.trim().split('\n', 1)[0]!.trim()
  if (line.length <= ERROR_CHARS) return line
  const cut = line.slice(0, ERROR_CHARS)
  const space = cut.lastIndexOf(' ')
  return `${(space > ERROR_CHARS * 0.6 ? cut.slice(0, space) : cut).trimEnd()}…`
}
