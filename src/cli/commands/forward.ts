import { tf } from '../../engine/backend.js'
import { assertFiniteLogits } from '../../engine/finite.js'
import { loadLanguageModel } from '../../engine/models/load.js'
import { TextTokenizer } from '../../engine/tokenizer.js'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import { modelOption, parseIds, requireModelDir, stringOption } from '../model-options.js'
import { openSplice, type CliSplice } from '../splice-option.js'

/**
 * One sequence's activation as positions × width. The attention pattern [1, head, q, k] becomes
 * [q, head·k] so that every hook reads the same way: one row per position.
 */
function rowsOf(name: string, act: tf.Tensor): number[][] {
  return tf.tidy(() => {
    const t = name.endsWith('attn.hook_pattern') ? tf.transpose(act, [0, 2, 1, 3]) : act
    const positions = t.shape[1] ?? 1
    return tf.reshape(t, [positions, -1]).arraySync() as number[][]
  })
}

export const forward: Command = {
  name: 'forward',
  summary: 'Runs one sequence through a model and prints its logits and any hook points (positions × width).',
  usage: 'mxd forward --model DIR (--ids 1,2,3 | --text T) [--hooks NAME,NAME] [--splice RUN|LAYER_DIR] [--json]',
  options: { ...modelOption, ids: { type: 'string' }, text: { type: 'string', short: 't' }, hooks: { type: 'string' }, splice: { type: 'string' } },
  async run(ctx) {
    const dir = requireModelDir(ctx)
    const idsArg = stringOption(ctx, 'ids')
    const text = stringOption(ctx, 'text')
    if ((idsArg === undefined) === (text === undefined)) throw new UsageError('give exactly one of --ids or --text')
    let ids: number[]
    if (idsArg !== undefined) ids = parseIds(idsArg)
    else {
      const tokenizer = TextTokenizer.fromFolder(dir)
      if (!tokenizer) throw new Error(`${dir} has no tokenizer.json: use --ids instead of --text.`)
      ids = tokenizer.encode(text!)
    }
    const model = await loadLanguageModel(dir)
    // --splice: a run's (or folder's) sparse layer replaces blocks[L].mlp; its code is one more hook point.
    let splice: CliSplice | undefined
    try {
      splice = openSplice(ctx, stringOption(ctx, 'splice'), dir)
      if (ids.some((id) => id >= model.vocabSize)) {
        throw new UsageError(`token ids must be below the vocabulary size ${model.vocabSize}`)
      }
      const hooks = (stringOption(ctx, 'hooks') ?? '').split(',').map((s) => s.trim()).filter(Boolean)
      const unknown = hooks.filter((h) => !model.hookPoints.includes(h) && h !== splice?.hookName)
      if (unknown.length > 0) {
        throw new UsageError(`unknown hook point ${unknown.join(', ')}; this model has e.g. ${model.hookPoints.slice(0, 6).join(', ')} … (see "mxd inspect")`)
      }
      const result = splice ? splice.forward(model, [ids], hooks) : model.forward([ids], { cacheNames: hooks })
      try {
        // NaN would print as null with exit 0: refuse it, saying where the forward went non-finite.
        assertFiniteLogits(model, ids, result.logits!.dataSync(), splice ? { mlpReplacements: splice.mlps(model, []) } : {}, dir)
        const logits = rowsOf('logits', result.logits!)
        const hookRows = Object.fromEntries(hooks.map((h) => [h, rowsOf(h, result.cache[h]!)]))
        if (ctx.json) ctx.printJson({ ids, logits, hooks: hookRows })
        else {
          for (const [p, row] of logits.entries()) {
            const best = row.indexOf(Math.max(...row))
            ctx.print(`position ${p} (id ${ids[p]}): top next id ${best} (logit ${row[best]!.toFixed(3)})`)
          }
          for (const [h, rows] of Object.entries(hookRows)) ctx.print(`${h}: ${rows.length} × ${rows[0]?.length ?? 0}`)
        }
      } finally {
        result.logits?.dispose()
        for (const t of Object.values(result.cache)) t.dispose()
      }
    } finally {
      splice?.dispose()
      model.dispose()
    }
    return 0
  },
}
