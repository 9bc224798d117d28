// Reading a layer on new input (docs/features.md): the units active at each token of a text or of
// token ids (features.search, `mxd features search --text`, the Playground's token inspector),
// and the direct effect on the loss of ablating one unit on its top contexts (features.ablate).
// Both run wherever a model and a layer are loaded (the engine worker, the CLI); the store-side
// parts (which index, the frequencies) stay with the caller.
import { tf } from '../../engine/backend.js'
import type { SparseLayer } from '../../engine/layers/sparse-layer.js'
import type { LanguageModel } from '../../engine/models/model.js'
import type { TextTokenizer } from '../../engine/tokenizer.js'
import type { HookFn, MlpModule } from '../../engine/hooks.js'
import { activeUnits } from './pass.js'

export interface ActiveToken {
  id: number
  text: string | null
  /** Post-TopK code > 0, highest first. */
  units: { unit: number; value: number }[]
}

export interface ActiveTokens {
  tokens: ActiveToken[]
  truncated: boolean
}

/**
 * The units active at every token of `input`. Text is tokenized after the model's BOS (where its
 * tokenizer has one), as the index's sequences are; ids are read as they are. Either is cut to
 * the model's context (`truncated`). `what` names the model in errors ("run 12's model").
 */
export async function readActiveUnits(
  model: LanguageModel,
  tokenizer: TextTokenizer | null,
  layer: SparseLayer,
  block: number,
  input: { text?: string; ids?: number[] },
  what: string,
): Promise<ActiveTokens> {
  let all: number[]
  if (input.text !== undefined) {
    if (!tokenizer) throw new Error(`${what} has no tokenizer.json, so it cannot read text: search by token ids instead.`)
    all = [...(tokenizer.bosId !== null ? [tokenizer.bosId] : []), ...tokenizer.encode(input.text, { addSpecialTokens: false })]
  } else {
    all = input.ids ?? []
    checkIds(model, all, what)
  }
  if (all.length === 0) throw new Error('There is no token to read: the text gave none.')
  if (block >= model.nLayers) throw new Error(`The layer replaces block ${block}, but ${what} has blocks 0…${model.nLayers - 1}.`)
  const ids = all.slice(0, model.dims.maxPositions)
  const active = await activeUnits(model, layer, block, ids)
  return {
    tokens: ids.map((id, i) => ({ id, text: tokenizer ? tokenizer.decode([id]) : null, units: active[i]! })),
    truncated: ids.length < all.length,
  }
}

/** The API's search tokens: each active unit with its indexed frequency (null where there is no index or no row). */
export function withFrequencies(tokens: ActiveToken[], frequency: (unit: number) => number | null): { id: number; text: string | null; units: { unit: number; value: number; frequency: number | null }[] }[] {
  const known = new Map<number, number | null>()
  const of = (unit: number): number | null => {
    if (!known.has(unit)) known.set(unit, frequency(unit))
    return known.get(unit)!
  }
  return tokens.map((t) => ({ ...t, units: t.units.map((u) => ({ ...u, frequency: of(u.unit) })) }))
}

function checkIds(model: LanguageModel, ids: number[], what: string): void {
  const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= model.vocabSize)
  if (bad !== undefined) throw new Error(`Token id ${bad} is outside the vocabulary of ${what} (ids 0…${model.vocabSize - 1}): were the ids made by another model's tokenizer?`)
}

export interface AblationContext {
  ids: number[]
  position: number
}

export interface AblatedContext {
  /** Index in the given contexts. */
  rank: number
  nextId: number
  logProb: number
  ablatedLogProb: number
  delta: number
}

export const ABLATION_DESCRIPTION =
  "For each top context: the log-probability of the token after the ranked one, with the layer spliced in, then again with only this unit's code set to 0 at the ranked position (every other unit and position unchanged); delta = ablated − spliced, negative where the unit helped predict that token. Contexts whose ranked token is their last have no next token and are left out."

/**
 * The direct effect on the loss of zeroing `unit`'s code at each context's ranked position: two
 * forwards per context with the layer spliced at `block` by `splice` (the caller's spliceMlp:
 * src/convert/splice.ts, which this layer may not import). Both decode through the code hook (the
 * clean one multiplies by ones), so the layer's arithmetic is the same in both and the difference
 * is the ablation alone.
 */
export async function ablateUnit(
  model: LanguageModel,
  layer: SparseLayer,
  block: number,
  splice: (onCodes: HookFn) => MlpModule,
  unit: number,
  contexts: AblationContext[],
  what: string,
): Promise<AblatedContext[]> {
  if (!Number.isInteger(unit) || unit < 0 || unit >= layer.width) throw new Error(`Unit ${unit} does not exist: this layer has units 0…${layer.width - 1}.`)
  if (block >= model.nLayers) throw new Error(`The layer replaces block ${block}, but ${what} has blocks 0…${model.nLayers - 1}.`)
  const out: AblatedContext[] = []
  for (const [rank, c] of contexts.entries()) {
    if (c.position + 1 >= c.ids.length) continue
    const ids = c.ids.slice(0, model.dims.maxPositions)
    if (c.position + 1 >= ids.length) continue
    checkIds(model, ids, what)
    const nextId = ids[c.position + 1]!
    const logProbOf = async (zero: boolean): Promise<number> => {
      const mask = new Float32Array(ids.length * layer.width).fill(1)
      if (zero) mask[c.position * layer.width + unit] = 0
      const mlp = splice((codes) => tf.mul(codes, tf.tensor3d(mask, [1, ids.length, layer.width])))
      const lp = tf.tidy(() => {
        const { logits, cache } = model.forward([ids], { mlpReplacements: { [block]: mlp } })
        for (const t of Object.values(cache)) t.dispose()
        const row = tf.slice(logits!, [0, c.position, 0], [1, 1, -1])
        return tf.slice(tf.logSoftmax(tf.reshape(row, [1, -1])), [0, nextId], [1, 1])
      })
      const v = (await lp.data())[0]!
      lp.dispose()
      return v
    }
    const logProb = await logProbOf(false)
    const ablatedLogProb = await logProbOf(true)
    out.push({ rank, nextId, logProb, ablatedLogProb, delta: ablatedLogProb - logProb })
    await new Promise((r) => setImmediate(r))
  }
  return out
}
