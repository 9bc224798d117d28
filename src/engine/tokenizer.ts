// Text ↔ token ids for a model folder's tokenizer.json, through @huggingface/tokenizers (the pure
// JS tokenizers of transformers.js): byte-level BPE (GPT-2, Pythia, Llama 3) and SentencePiece
// BPE with byte fallback (Llama 2). BOS/EOS are added here rather than by the library's
// post-processor so that tokenizer_config.json's add_bos_token/add_eos_token win, as they do in
// transformers; special tokens written in the text (e.g. "<|endoftext|>") become their ids.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Tokenizer } from '@huggingface/tokenizers'
import { readRegularFileSync, UserPathError } from '../fs/user-files.js'
import { ModelLoadError } from './model-folder.js'

type Json = Record<string, unknown>

export class TextTokenizer {
  readonly bosId: number | null
  readonly eosId: number | null
  readonly vocabSize: number
  /** Ids put around the text when special tokens are requested (BOS before, EOS after). */
  private readonly prefix: number[]
  private readonly suffix: number[]

  private constructor(
    private readonly tokenizer: Tokenizer,
    tokenizerJson: Json,
    config: Json,
  ) {
    const idOf = (token: unknown): number | null => {
      const content = tokenContent(token)
      return content === null ? null : (tokenizer.token_to_id(content) ?? null)
    }
    const template = templateSpecials(tokenizerJson.post_processor, (content) => idOf(content))
    this.bosId = idOf(config.bos_token) ?? template.before[0] ?? null
    this.eosId = idOf(config.eos_token) ?? template.after.at(-1) ?? null
    this.prefix =
      typeof config.add_bos_token === 'boolean' ? (config.add_bos_token && this.bosId !== null ? [this.bosId] : []) : template.before
    this.suffix =
      typeof config.add_eos_token === 'boolean' ? (config.add_eos_token && this.eosId !== null ? [this.eosId] : []) : template.after
    this.vocabSize = Math.max(-1, ...tokenizer.get_vocab(true).values()) + 1
  }

  /** The tokenizer of a model folder, or null when it has no tokenizer.json. */
  static fromFolder(dir: string): TextTokenizer | null {
    const path = join(dir, 'tokenizer.json')
    if (!existsSync(path)) return null
    // special_tokens_map.json is the older home of bos/eos; tokenizer_config.json overrides it.
    const config = { ...readOptionalJson(join(dir, 'special_tokens_map.json')), ...readOptionalJson(join(dir, 'tokenizer_config.json')) }
    return TextTokenizer.fromJson(readJson(path), config, path)
  }

  static fromJson(tokenizerJson: object, tokenizerConfig: object = {}, source = 'tokenizer.json'): TextTokenizer {
    const json = { added_tokens: [], ...tokenizerJson } as Json
    if (typeof json.model !== 'object' || json.model === null) {
      throw new ModelLoadError(
        `${source} has no "model" section: it is not a Hugging Face tokenizer.json; re-download it from the model page.`,
      )
    }
    let tokenizer: Tokenizer
    try {
      tokenizer = new Tokenizer(json, tokenizerConfig)
    } catch (err) {
      throw new ModelLoadError(
        `${source} could not be loaded (${(err as Error).message}): re-download it, or report the model if the file is intact.`,
        { cause: err },
      )
    }
    return new TextTokenizer(tokenizer, json, tokenizerConfig as Json)
  }

  /** Token ids of `text`; BOS/EOS as the tokenizer's configuration asks unless addSpecialTokens is false. */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids
    return opts.addSpecialTokens === false ? ids : [...this.prefix, ...ids, ...this.suffix]
  }

  /**
   * Text of `ids`. Never "cleans up" spaces (transformers' clean_up_tokenization_spaces), so that
   * decode(encode(text)) is text exactly. Ids outside the vocabulary (padding rows some models
   * add to their embedding) have no text and are left out.
   */
  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    const known = ids.filter((id) => this.tokenizer.id_to_token(id) !== undefined)
    if (known.length === 0) return ''
    return this.tokenizer.decode(known, { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false })
  }

  /** The vocabulary strings of `ids` (as transformers' convert_ids_to_tokens); '' for ids outside it. */
  tokenStrings(ids: number[]): string[] {
    return ids.map((id) => this.tokenizer.id_to_token(id) ?? '')
  }
}

/** Special tokens in tokenizer_config.json are strings or AddedToken objects ({content: ...}). */
function tokenContent(token: unknown): string | null {
  if (typeof token === 'string') return token
  if (typeof token === 'object' && token !== null && typeof (token as Json).content === 'string') return (token as Json).content as string
  return null
}

/**
 * The special-token ids a TemplateProcessing post-processor (alone or inside a Sequence) puts
 * before and after a single sequence: what add_special_tokens means when tokenizer_config.json
 * does not say (Llama 3, for example, adds <|begin_of_text|> this way).
 */
function templateSpecials(processor: unknown, idOf: (content: string) => number | null): { before: number[]; after: number[] } {
  const before: number[] = []
  const after: number[] = []
  const template = findTemplate(processor)
  if (template === null) return { before, after }
  const specialTokens = (template.special_tokens ?? {}) as Record<string, { ids?: number[] }>
  let seenSequence = false
  for (const item of Array.isArray(template.single) ? (template.single as unknown[]) : []) {
    if (typeof item !== 'object' || item === null) continue
    if ('Sequence' in item) seenSequence = true
    const special = (item as Json).SpecialToken as { id?: string } | undefined
    if (special?.id === undefined) continue
    const ids = specialTokens[special.id]?.ids ?? [idOf(special.id)].filter((id): id is number => id !== null)
    ;(seenSequence ? after : before).push(...ids)
  }
  return { before, after }
}

function findTemplate(processor: unknown): Json | null {
  if (typeof processor !== 'object' || processor === null) return null
  const p = processor as Json
  if (p.type === 'TemplateProcessing') return p
  if (p.type === 'Sequence' && Array.isArray(p.processors)) {
    for (const inner of p.processors) {
      const found = findTemplate(inner)
      if (found !== null) return found
    }
  }
  return null
}

function readJson(path: string): Json {
  let text: string
  try {
    // Through fs/user-files: a FIFO or device named tokenizer.json is refused, not waited on.
    text = readRegularFileSync(path, { maxBytes: 256 * 1024 * 1024 }).toString('utf8')
  } catch (err) {
    throw new ModelLoadError(err instanceof UserPathError ? err.message : String(err), { cause: err })
  }
  try {
    return JSON.parse(text) as Json
  } catch (err) {
    throw new ModelLoadError(`${path} is not valid JSON (${(err as Error).message}): re-download it from the model page.`, { cause: err })
  }
}

function readOptionalJson(path: string): Json {
  return existsSync(path) ? readJson(path) : {}
}
