import { describeModel } from '../../engine/describe.js'
import type { Command } from '../command.js'
import { modelOption, requireModelDir } from '../model-options.js'

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(bytes < 2 ** 30 ? 3 : 1)} GiB`

export const inspect: Command = {
  name: 'inspect',
  summary: "Describes a local model folder: architecture, size, dtype, memory it needs, and each layer's MLP.",
  usage: 'mxd inspect --model DIR [--json]',
  options: modelOption,
  async run(ctx) {
    const d = describeModel(requireModelDir(ctx))
    if (ctx.json) {
      ctx.printJson(d)
      return 0
    }
    const i = d.info
    ctx.print(
      [
        `${i.name} (${i.modelType}) — ${(i.parameters / 1e6).toFixed(2)}M parameters, ${i.dtype}`,
        `layers ${i.layers} · d_model ${i.dModel} · MLP width ${i.mlpWidth} · heads ${i.heads} (kv ${i.kvHeads}) · vocab ${i.vocabSize} · context ${i.contextLength}`,
        `on disk ${gib(i.sizeOnDisk)} · needs about ${gib(i.memoryBytes)} of memory · tokenizer ${i.hasTokenizer ? 'yes' : 'no (runs on token ids)'}`,
        '',
        'layer  MLP in → out                                           MLP params',
        ...d.layers.map((l) => `${String(l.layer).padStart(5)}  ${`${l.hookIn} → ${l.hookOut}`.padEnd(55)} ${l.mlpParameters.toLocaleString('en')}`),
      ].join('\n'),
    )
    return 0
  },
}
