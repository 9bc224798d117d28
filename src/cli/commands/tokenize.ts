import { TextTokenizer } from '../../engine/tokenizer.js'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import { modelOption, requireModelDir, stringOption } from '../model-options.js'

export const tokenize: Command = {
  name: 'tokenize',
  summary: "Encodes text with a model's tokenizer (needs only its tokenizer files).",
  usage: 'mxd tokenize --model DIR --text T [--no-special] [--json]',
  options: { ...modelOption, text: { type: 'string', short: 't' }, 'no-special': { type: 'boolean', default: false } },
  async run(ctx) {
    const dir = requireModelDir(ctx)
    const text = stringOption(ctx, 'text')
    if (text === undefined) throw new UsageError('--text T is required')
    const tokenizer = TextTokenizer.fromFolder(dir)
    if (!tokenizer) throw new Error(`${dir} has no tokenizer.json: pass token ids to "mxd forward --ids" instead.`)
    const ids = tokenizer.encode(text, { addSpecialTokens: ctx.values['no-special'] !== true })
    const tokens = tokenizer.tokenStrings(ids)
    if (ctx.json) ctx.printJson({ ids, tokens })
    else ctx.print(ids.map((id, i) => `${id}\t${JSON.stringify(tokens[i])}`).join('\n'))
    return 0
  },
}
