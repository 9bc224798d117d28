import { generateTokens } from '../../engine/generate.js'
import { loadLanguageModel } from '../../engine/models/load.js'
import { TextTokenizer } from '../../engine/tokenizer.js'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import { modelOption, numberOption, requireModelDir, stringOption } from '../model-options.js'
import { openSplice, parseSteers, type CliSplice } from '../splice-option.js'

export const generate: Command = {
  name: 'generate',
  summary:
    'Generates text from a prompt, streaming tokens to stdout (greedy unless --temperature is given); ' +
    'with --splice, a sparse layer replaces its block\'s MLP, and --steer adds to its units\' codes at every position.',
  usage:
    'mxd generate --model DIR --prompt T [--max-tokens 64] [--temperature 0] [--top-k 0] [--top-p 1] [--frequency-penalty 0] [--seed N] ' +
    '[--splice RUN|LAYER_DIR [--steer UNIT[=VALUE],...]] [--json]',
  options: {
    ...modelOption,
    prompt: { type: 'string', short: 'p' },
    'max-tokens': { type: 'string' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    'frequency-penalty': { type: 'string' },
    seed: { type: 'string' },
    splice: { type: 'string' },
    steer: { type: 'string' },
  },
  async run(ctx) {
    const dir = requireModelDir(ctx)
    const prompt = stringOption(ctx, 'prompt')
    if (prompt === undefined) throw new UsageError('--prompt T is required')
    const opts = {
      maxNewTokens: numberOption(ctx, 'max-tokens', 64, 1, 100_000, true),
      temperature: numberOption(ctx, 'temperature', 0, 0, 100),
      topK: numberOption(ctx, 'top-k', 0, 0, 1_000_000, true),
      topP: numberOption(ctx, 'top-p', 1, 0, 1),
      frequencyPenalty: numberOption(ctx, 'frequency-penalty', 0, -10, 10),
      seed: stringOption(ctx, 'seed') === undefined ? undefined : numberOption(ctx, 'seed', 0, 0, 2 ** 32 - 1, true),
    }
    const steerSpec = stringOption(ctx, 'steer')
    if (steerSpec !== undefined && stringOption(ctx, 'splice') === undefined) throw new UsageError('--steer needs --splice RUN|LAYER_DIR: the units it steers are that layer\'s')
    const steers = steerSpec === undefined ? [] : parseSteers(steerSpec)
    const tokenizer = TextTokenizer.fromFolder(dir)
    if (!tokenizer) throw new Error(`${dir} has no tokenizer.json, so it cannot read a text prompt; use "mxd forward --ids" instead.`)
    const promptIds = tokenizer.encode(prompt)
    const model = await loadLanguageModel(dir)
    const abort = new AbortController()
    const onSigint = (): void => abort.abort()
    process.once('SIGINT', onSigint)
    let splice: CliSplice | undefined
    try {
      splice = openSplice(ctx, stringOption(ctx, 'splice'), dir)
      const forward = splice ? { mlpReplacements: splice.mlps(model, steers) } : undefined
      const stream = generateTokens(model, promptIds, { ...opts, tokenizer, signal: abort.signal, modelName: dir, ...(forward ? { forward } : {}) })
      if (!ctx.json) ctx.out.write(prompt)
      for (;;) {
        const step = await stream.next()
        if (step.done) {
          const r = step.value
          const spliced = splice ? { splice: { block: splice.block, hook: splice.hookName }, steer: steers } : {}
          if (ctx.json) ctx.printJson({ prompt, promptIds, ids: r.ids, text: r.text, stopReason: r.stopReason, seed: r.seed, ...spliced })
          else ctx.out.write('\n')
          return 0
        }
        if (ctx.json) ctx.printJson({ token: step.value })
        else ctx.out.write(step.value.text ?? '')
      }
    } finally {
      process.off('SIGINT', onSigint)
      model.dispose()
      splice?.dispose()
    }
  },
}
