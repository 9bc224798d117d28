import { resolve } from 'node:path'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'

export const importCommand: Command = {
  name: 'import',
  summary: 'Registers a layer folder (ours, or a SAELens-style TopK transcoder) as a run that can be evaluated, compared and spliced.',
  usage: 'mxd import DIR [--json]',
  options: {},
  async run(ctx) {
    const [dir, ...extra] = ctx.positionals
    if (!dir || extra.length > 0) throw new UsageError('give exactly one layer folder')
    const backend = await ctx.backend()
    const result = await backend.call('convert.import', { dir: resolve(dir) })
    if (ctx.json) ctx.printJson(result)
    else {
      ctx.print(`run ${result.runId}: imported a ${result.architecture} layer for block ${result.layer} (k = ${result.k}, ${result.source} format)`)
      ctx.print(`evaluate it with: mxd eval --run ${result.runId} --model DIR --data PATH`)
    }
    return 0
  },
}
