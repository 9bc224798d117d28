// `mxd features index|list|show`: index what each unit of a layer run does on held-out text
// (job kind feature-index), list its units, and show one unit's contexts with its activation
// at every token, and the units firing most on a token. --run names the layer run (convert or layer-import); list and show read its
// newest finished index.
import { readActiveUnits, withFrequencies } from '../../analysis/features/inspect.js'
import { runLayerDir } from '../../convert/export.js'
import { loadLayerFolder } from '../../convert/layer-file.js'
import { loadLanguageModel } from '../../engine/models/load.js'
import { TextTokenizer } from '../../engine/tokenizer.js'
import { evalInputs } from '../../jobs/convert/eval-inputs.js'
import { FEATURE_LIMITS, type FeatureContext, type FeatureUnit } from '../../shared/features.js'
import type { Command, CommandContext } from '../command.js'
import { UsageError } from '../command.js'
import { followRun } from '../follow.js'
import { numberOption, stringOption } from '../model-options.js'

const USAGE = [
  'mxd features index --run ID [--data PATH|ID] [--tokens N] [--ctx N] [--json]',
  '       mxd features list --run ID [--sort freq|max] [--limit N] [--json]',
  '       mxd features show --run ID --unit N [--json]',
  '       mxd features search --run ID (--text T | --token TEXT | --token-id N) [--json]',
].join('\n')

function runOption(ctx: CommandContext): number {
  const raw = stringOption(ctx, 'run')
  if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError('--run ID is required (the conversion or imported layer run)')
  return Number(raw)
}

/** A context as text: each token with the unit's activation after it where it fired, the ranked token in [brackets]. */
function contextLine(c: FeatureContext): string {
  const words = c.ids.map((id, i) => {
    const text = JSON.stringify(c.tokens?.[i] ?? `#${id}`).slice(1, -1)
    const shown = i === c.position ? `[${text}]` : text
    return c.values[i]! > 0 ? `${shown}(${c.values[i]!.toFixed(2)})` : shown
  })
  // Token texts carry their own spaces: joined as they are, the context reads as the text did.
  return `${c.value.toFixed(3).padStart(8)}  ${words.join('')}`
}

/** The unit's output effect: the tokens it promotes and suppresses most, or why there are none. */
function effectLines(e: FeatureUnit['effect']): string[] {
  if (e.top.length === 0) return [`output effect: ${e.description}`]
  const tokens = (list: FeatureUnit['effect']['top']): string => list.map((t) => `${JSON.stringify(t.text ?? `#${t.id}`)}(${t.value.toFixed(2)})`).join(' ')
  return [`output effect (${e.description.split(':')[0]}): promotes ${tokens(e.top)}`, `  suppresses ${tokens(e.bottom)}`]
}

function unitText(u: FeatureUnit): string {
  const s = u.stats
  const lines = [
    `unit ${s.unit} of the ${u.index.kind} layer of block ${u.index.block} (index run ${u.index.indexRunId}, ${u.index.tokens} tokens)`,
    `fires on ${s.count} tokens (frequency ${s.frequency.toExponential(3)}), mean activation ${s.meanActivation.toFixed(4)}, max ${s.maxActivation.toFixed(4)}`,
    `co-firing units (approximate counts): ${u.cofiring.slice(0, 10).map((c) => `${c.unit}×${c.count}`).join(' ') || '—'}`,
    ...effectLines(u.effect),
    '',
    'top contexts (activation at the [ranked token]; (x) after a token = the activation where the unit fired):',
    ...u.top.map(contextLine),
  ]
  u.bands.forEach((b, i) => {
    if (b.contexts.length === 0) return
    lines.push('', `band ${i + 1} (activations ${b.lo.toPrecision(3)}…${b.hi.toPrecision(3)}):`, ...b.contexts.map(contextLine))
  })
  return lines.join('\n')
}

/**
 * `search --text`: the units active at each token of a text, read here with the engine as
 * `mxd forward --splice` is, by the same function as the app's features.search
 * (src/analysis/features/inspect.ts readActiveUnits, which the engine worker runs).
 */
async function searchText(ctx: CommandContext, runId: number, text: string): Promise<number> {
  if (text.length > FEATURE_LIMITS.maxSearchChars) throw new UsageError(`--text is ${text.length} characters long; at most ${FEATURE_LIMITS.maxSearchChars} are read`)
  const backend = await ctx.backend()
  const store = backend.ctx.store
  const { layer, cfg } = loadLayerFolder(runLayerDir(store, runId))
  try {
    // The model folder as an evaluation or an index finds it; evalInputs also resolves a dataset,
    // which a text search does not read, so a placeholder stands in for it.
    const { modelDir } = evalInputs(store, { trainRunId: runId, data: 0, tokens: 1, batch: 1, seed: 0 }, cfg, store.getRun(runId))
    const tokenizer = TextTokenizer.fromFolder(modelDir)
    const model = await loadLanguageModel(modelDir)
    try {
      const read = await readActiveUnits(model, tokenizer, layer, cfg.layer, { text }, `run ${runId}'s model (${modelDir})`)
      const index = store.latestFeatureIndex(runId)
      const tokens = withFrequencies(read.tokens, (unit) => {
        const row = index ? store.getFeatureUnit(index.runId, unit) : undefined
        return row && index ? row.count / index.tokens : null
      })
      if (ctx.json) ctx.printJson({ runId, block: cfg.layer, kind: cfg.architecture, indexRunId: index?.runId ?? null, tokens, truncated: read.truncated })
      else {
        for (const t of tokens) {
          const units = t.units.map((u) => `${u.unit}:${u.value.toFixed(2)}`).join('  ')
          ctx.print(`${JSON.stringify(t.text).padEnd(16)} ${units || '—'}`)
        }
        if (read.truncated) ctx.print(`(the text was cut to the model's context of ${model.dims.maxPositions} tokens)`)
      }
      return 0
    } finally {
      model.dispose()
    }
  } finally {
    layer.dispose()
  }
}

export const featuresCommand: Command = {
  name: 'features',
  summary: "What each unit of a converted or imported layer does: index it on held-out text, list its units, show a unit's top contexts, find the units firing on a token.",
  usage: USAGE,
  options: {
    run: { type: 'string' },
    data: { type: 'string' },
    tokens: { type: 'string' },
    ctx: { type: 'string' },
    sort: { type: 'string' },
    limit: { type: 'string' },
    unit: { type: 'string' },
    token: { type: 'string' },
    'token-id': { type: 'string' },
    text: { type: 'string' },
  },
  async run(ctx) {
    const [sub, ...extra] = ctx.positionals
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
    const runId = runOption(ctx)
    if (sub === 'index') {
      const data = stringOption(ctx, 'data')
      const backend = await ctx.backend()
      const { runId: indexRun } = await backend.call('features.start', {
        layerRunId: runId,
        ...(data !== undefined ? { data: /^\d+$/.test(data) ? Number(data) : data } : {}),
        ...(stringOption(ctx, 'tokens') !== undefined ? { tokens: numberOption(ctx, 'tokens', 0, 1, FEATURE_LIMITS.maxTokens, true) } : {}),
        ...(stringOption(ctx, 'ctx') !== undefined ? { ctx: numberOption(ctx, 'ctx', 0, 2, 4096, true) } : {}),
      })
      if (!ctx.json) ctx.print(`run ${indexRun}: indexing the units of run ${runId}'s layer`)
      const detail = await followRun(ctx, backend, indexRun)
      if (ctx.json) ctx.printJson({ run: detail.run, metrics: Object.fromEntries(detail.metrics.map((m) => [m.name, m.value])) })
      else ctx.print(`run ${indexRun} ${detail.run.status}${detail.run.error ? `: ${detail.run.error}` : ''}`)
      return detail.run.status === 'succeeded' ? 0 : 1
    }
    if (sub === 'list') {
      const sort = stringOption(ctx, 'sort') ?? 'freq'
      if (sort !== 'freq' && sort !== 'max') throw new UsageError(`--sort takes freq or max, not "${sort}"`)
      const limit = numberOption(ctx, 'limit', 50, 1, FEATURE_LIMITS.maxPage, true)
      const backend = await ctx.backend()
      const list = await backend.call('features.list', { runId, sort, limit })
      if (ctx.json) ctx.printJson(list)
      else {
        const i = list.index
        ctx.print(`index run ${i.indexRunId}: ${i.width} units of the ${i.kind} layer of block ${i.block}, ${i.tokens} tokens; ${i.width - i.dead} live, ${i.dead} dead`)
        ctx.print('   unit      count   frequency      mean       max')
        for (const u of list.units) {
          ctx.print(`${String(u.unit).padStart(7)} ${String(u.count).padStart(10)}  ${u.frequency.toExponential(3).padStart(10)}  ${u.meanActivation.toFixed(4).padStart(8)}  ${u.maxActivation.toFixed(4).padStart(8)}`)
        }
        if (list.total > list.units.length) ctx.print(`(${list.units.length} of ${list.total} live units; --limit N for more)`)
      }
      return 0
    }
    if (sub === 'show') {
      if (stringOption(ctx, 'unit') === undefined) throw new UsageError('--unit N is required')
      const unit = numberOption(ctx, 'unit', 0, 0, 10_000_000, true)
      const backend = await ctx.backend()
      const page = await backend.call('features.get', { runId, unit })
      if (ctx.json) ctx.printJson(page)
      else ctx.print(unitText(page))
      return 0
    }
    if (sub === 'search' && stringOption(ctx, 'text') !== undefined) return searchText(ctx, runId, stringOption(ctx, 'text')!)
    if (sub === 'search') {
      const token = stringOption(ctx, 'token')
      const hasId = stringOption(ctx, 'token-id') !== undefined
      if ((token === undefined) === !hasId) throw new UsageError('give --token TEXT (the token as the tokenizer writes it, e.g. " LORD") or --token-id N')
      const backend = await ctx.backend()
      const found = await backend.call('features.listByToken', {
        runId,
        ...(token !== undefined ? { token } : { tokenId: numberOption(ctx, 'token-id', 0, 0, 10_000_000, true) }),
      })
      if (ctx.json) ctx.printJson(found)
      else if (found.matches.length === 0) ctx.print(`no indexed token is exactly ${JSON.stringify(token)}`)
      else {
        for (const m of found.matches) {
          ctx.print(`token ${m.tokenId} ${JSON.stringify(m.text ?? '')}: ${m.occurrences} occurrences; units firing on it most (approximate counts):`)
          for (const u of m.units) ctx.print(`  unit ${String(u.unit).padStart(7)}  ${String(u.count).padStart(8)}  ${(100 * u.share).toFixed(1)}%`)
        }
      }
      return 0
    }
    throw new UsageError(sub === undefined ? 'give a subcommand: index, list, show or search' : `unknown subcommand "${sub}": index, list, show or search`)
  },
}
