import { resolve } from 'node:path'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import { stringOption } from '../model-options.js'

export const exportCommand: Command = {
  name: 'export',
  summary: "Copies a run's trained layer (cfg.json + sae_weights.safetensors) to a folder; see \"Layer file format\" in the README.",
  usage: 'mxd export --run ID --out DIR [--force] [--json]',
  options: { run: { type: 'string' }, out: { type: 'string', short: 'o' }, force: { type: 'boolean', default: false } },
  async run(ctx) {
    const runArg = stringOption(ctx, 'run')
    if (runArg === undefined || !/^\d+$/.test(runArg)) throw new UsageError('--run ID is required')
    const out = stringOption(ctx, 'out')
    if (!out) throw new UsageError('--out DIR is required (a new or empty folder; --force replaces a previous export there, and nothing else)')
    const backend = await ctx.backend()
    const result = await backend.call('convert.export', { runId: Number(runArg), dir: resolve(out), force: ctx.values.force === true })
    if (ctx.json) ctx.printJson(result)
    else ctx.print(`exported run ${runArg}'s layer to ${result.dir}`)
    return 0
  },
}
