// What each supported architecture needs from a model folder, said once: the config.json fields it
// reads (type, range, default), the rules that tie them together (n_embd divisible by n_head…),
// and every tensor its loader will read, with the shape config.json implies. openModelFolder
// checks a folder against this from config.json and the safetensors headers alone (no tensor
// data), so `mxd inspect`, the Models page and loading agree: a folder inspect calls fine has
// every tensor the loader asks for, in the shape and a dtype it can read. The loaders read their
// numbers from the ValidConfig this returns instead of from config.json.
import { ModelLoadError, type Architecture } from './model-folder.js'

// ---------------------------------------------------------------------------- config fields

type Values = Record<string, unknown>

type Scalar = string | number | boolean | null
type Fallback = Scalar | ((v: Values) => unknown)

interface FieldRule {
  /** What the field must be, as a user reads it: "a positive integer". */
  what: string
  /** The value, or a problem ("is 0") when it cannot be right. */
  check: (value: unknown) => string | null
  /** Used when the field is absent or null; a function sees the fields checked before it. */
  fallback?: Fallback
  /** Other names the same field has in some checkpoints (GPT-2's n_ctx). */
  aliases?: string[]
  /** Only read (and so only required) when this holds. */
  when?: (v: Values) => boolean
}

// JSON would write Infinity (a config's 1e999) as null; say what was actually read.
const show = (value: unknown): string =>
  typeof value === 'number' && !Number.isFinite(value) ? String(value) : (JSON.stringify(value) ?? String(value))

const positiveInt = (fallback?: FieldRule['fallback']): FieldRule => ({
  what: 'a positive integer',
  check: (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? null : `is ${show(v)}`),
  fallback,
})

/** A finite number > 0: epsilons (a zero or negative one divides by zero), rotary bases. */
const positiveNumber = (fallback?: number): FieldRule => ({
  what: 'a finite number greater than 0',
  check: (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? null : `is ${show(v)}`),
  fallback,
})

const oneOf = (values: readonly Scalar[], fallback: Scalar): FieldRule => ({
  what: `one of ${values.map(show).join(', ')} (the only ${values.length === 1 ? 'value' : 'values'} MxD Studio implements)`,
  check: (v) => ((values as readonly unknown[]).includes(v) ? null : `is ${show(v)}`),
  fallback,
})

const boolean = (fallback: boolean): FieldRule => ({
  what: 'true or false',
  check: (v) => (typeof v === 'boolean' ? null : `is ${show(v)}`),
  fallback,
})

/**
 * bos/eos token ids: a whole number ≥ 0, a list of them (Llama 3 has several EOS ids), or absent.
 * (Not checked against vocab_size: some checkpoints name ids their vocabulary lacks, which then
 * simply never occur.)
 */
const tokenIds: FieldRule = {
  what: 'a whole number ≥ 0 or a list of them',
  check: (v) => {
    const ok = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
    return ok(v) || (Array.isArray(v) && v.every(ok)) ? null : `is ${show(v)}`
  },
  fallback: null,
}

const TOKEN_FIELDS = { bos_token_id: tokenIds, eos_token_id: tokenIds }

// ------------------------------------------------------------------------ the architectures

export interface PlannedTensor {
  /** Without the architecture's prefix; the prefixed name is tried first, as the loaders do. */
  name: string
  shape: number[]
  /** Biases some checkpoints omit: checked when present. */
  optional?: boolean
}

interface ArchitectureSchema {
  /** Prefix save_pretrained puts on every tensor name ("transformer." for GPT-2). */
  prefix: string
  fields: Record<string, FieldRule>
  /** Rules between fields: a problem sentence, or null. */
  rules: ((v: Values) => string | null)[]
  dims(v: Values): ConfigDims
  tensors(v: Values, dims: ConfigDims): PlannedTensor[]
}

export interface ConfigDims {
  nLayers: number
  dModel: number
  nHeads: number
  nKvHeads: number
  headDim: number
  /** Width of the MLP's hidden layer (mlp.hook_post). */
  dMlp: number
  vocabSize: number
  /** Longest sequence (cached + new tokens) the model accepts: learned position tables end there. */
  maxPositions: number
}

const num = (v: Values, key: string): number => v[key] as number

const divides = (part: string, whole: string, why: string) => (v: Values) =>
  num(v, whole) % num(v, part) === 0 ? null : `"${whole}" = ${num(v, whole)} is not a multiple of "${part}" = ${num(v, part)} (${why})`

/** Weight and bias of a norm of width d. */
const normTensors = (prefix: string, d: number, bias = true): PlannedTensor[] => [
  { name: `${prefix}.weight`, shape: [d] },
  ...(bias ? [{ name: `${prefix}.bias`, shape: [d] }] : []),
]

/** A torch nn.Linear: weight [out, in], bias optional. */
const torchLinear = (prefix: string, inDim: number, outDim: number): PlannedTensor[] => [
  { name: `${prefix}.weight`, shape: [outDim, inDim] },
  { name: `${prefix}.bias`, shape: [outDim], optional: true },
]

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

const GPT2: ArchitectureSchema = {
  prefix: 'transformer.',
  fields: {
    ...TOKEN_FIELDS,
    n_embd: positiveInt(),
    n_head: positiveInt(),
    n_layer: positiveInt(),
    // GPT-2 writes n_inner: null for the default 4 × n_embd.
    n_inner: positiveInt((v) => 4 * num(v, 'n_embd')),
    vocab_size: positiveInt(),
    n_positions: { ...positiveInt(), aliases: ['n_ctx'] },
    layer_norm_epsilon: positiveNumber(1e-5),
    activation_function: oneOf(['gelu_new'], 'gelu_new'),
    scale_attn_weights: oneOf([true], true),
    scale_attn_by_inverse_layer_idx: oneOf([false], false),
    // MxD Studio's own field: GPT-2s pre-trained here with μMoE MLPs (src/engine/train).
    mlp_kind: oneOf(['dense', 'cpmoe', 'trmoe'], 'dense'),
    n_experts: { ...positiveInt(), when: (v) => v.mlp_kind !== 'dense' },
    rank: { ...positiveInt(), when: (v) => v.mlp_kind === 'cpmoe' },
    tr_ranks: {
      what: 'three positive integers [r1, r2, r3]',
      check: (v) =>
        Array.isArray(v) && v.length === 3 && v.every((r) => Number.isSafeInteger(r) && (r as number) > 0) ? null : `is ${show(v)}`,
      when: (v) => v.mlp_kind === 'trmoe',
    },
  },
  rules: [divides('n_head', 'n_embd', 'each attention head takes an equal slice of the width')],
  dims: (v) => ({
    nLayers: num(v, 'n_layer'),
    dModel: num(v, 'n_embd'),
    nHeads: num(v, 'n_head'),
    nKvHeads: num(v, 'n_head'),
    headDim: num(v, 'n_embd') / num(v, 'n_head'),
    dMlp: num(v, 'n_inner'),
    vocabSize: num(v, 'vocab_size'),
    maxPositions: num(v, 'n_positions'),
  }),
  tensors: (v, { nLayers, dModel: d, dMlp, vocabSize, maxPositions }) => {
    // GPT-2's Conv1D weights are [in, out].
    const conv1d = (p: string, inDim: number, outDim: number): PlannedTensor[] => [
      { name: `${p}.weight`, shape: [inDim, outDim] },
      { name: `${p}.bias`, shape: [outDim] },
    ]
    const mlp = (p: string): PlannedTensor[] => {
      if (v.mlp_kind === 'dense') return [...conv1d(`${p}.c_fc`, d, dMlp), ...conv1d(`${p}.c_proj`, dMlp, d)]
      const n = num(v, 'n_experts')
      const layer = (name: string, inDim: number, outDim: number): PlannedTensor[] => {
        if (v.mlp_kind === 'cpmoe') {
          const r = num(v, 'rank')
          return [
            { name: `${p}.${name}.U1`, shape: [n, r] },
            { name: `${p}.${name}.U2`, shape: [inDim + 1, r] },
            { name: `${p}.${name}.U3t`, shape: [r, outDim] },
          ]
        }
        const [r1, r2, r3] = v.tr_ranks as [number, number, number]
        return [
          { name: `${p}.${name}.G1`, shape: [n, r1, r2] },
          { name: `${p}.${name}.G2`, shape: [inDim + 1, r2, r3] },
          { name: `${p}.${name}.G3`, shape: [r1, r3, outDim] },
        ]
      }
      return [{ name: `${p}.gate.G`, shape: [d, n] }, ...layer('first', d, dMlp), ...layer('second', dMlp, d)]
    }
    return [
      { name: 'wte.weight', shape: [vocabSize, d] },
      { name: 'wpe.weight', shape: [maxPositions, d] },
      ...range(nLayers).flatMap((l) => [
        ...normTensors(`h.${l}.ln_1`, d),
        ...conv1d(`h.${l}.attn.c_attn`, d, 3 * d),
        ...conv1d(`h.${l}.attn.c_proj`, d, d),
        ...normTensors(`h.${l}.ln_2`, d),
        ...mlp(`h.${l}.mlp`),
      ]),
      ...normTensors('ln_f', d),
      // A separate lm_head is rare for GPT-2 (the unembedding is tied to wte).
      { name: 'lm_head.weight', shape: [vocabSize, d], optional: true },
    ]
  },
}

const GPT_NEOX: ArchitectureSchema = {
  prefix: 'gpt_neox.',
  fields: {
    ...TOKEN_FIELDS,
    hidden_size: positiveInt(),
    num_attention_heads: positiveInt(),
    num_hidden_layers: positiveInt(),
    intermediate_size: positiveInt(),
    vocab_size: positiveInt(),
    max_position_embeddings: positiveInt(),
    layer_norm_eps: positiveNumber(1e-5),
    rotary_pct: {
      what: 'a number greater than 0 and at most 1 (the share of each head rotated)',
      check: (v) => (typeof v === 'number' && v > 0 && v <= 1 ? null : `is ${show(v)}`),
      fallback: 0.25,
    },
    rotary_emb_base: positiveNumber(10000),
    use_parallel_residual: boolean(true),
    hidden_act: oneOf(['gelu', 'gelu_new'], 'gelu'),
    rope_scaling: oneOf([null], null),
  },
  rules: [
    divides('num_attention_heads', 'hidden_size', 'each attention head takes an equal slice of the width'),
    (v) => {
      const dims = rotaryDims(v)
      return dims >= 2 && dims % 2 === 0
        ? null
        : `"rotary_pct" = ${num(v, 'rotary_pct')} of the ${headDimOf(v)}-channel heads rotates ${dims} channels, but rotary embeddings turn channels in pairs: they need an even number, at least 2`
    },
  ],
  dims: (v) => ({
    nLayers: num(v, 'num_hidden_layers'),
    dModel: num(v, 'hidden_size'),
    nHeads: num(v, 'num_attention_heads'),
    nKvHeads: num(v, 'num_attention_heads'),
    headDim: headDimOf(v),
    dMlp: num(v, 'intermediate_size'),
    vocabSize: num(v, 'vocab_size'),
    maxPositions: num(v, 'max_position_embeddings'),
  }),
  tensors: (_v, { nLayers, dModel: d, dMlp, vocabSize }) => [
    { name: 'embed_in.weight', shape: [vocabSize, d] },
    ...range(nLayers).flatMap((l) => [
      ...normTensors(`layers.${l}.input_layernorm`, d),
      ...torchLinear(`layers.${l}.attention.query_key_value`, d, 3 * d),
      ...torchLinear(`layers.${l}.attention.dense`, d, d),
      ...normTensors(`layers.${l}.post_attention_layernorm`, d),
      ...torchLinear(`layers.${l}.mlp.dense_h_to_4h`, d, dMlp),
      ...torchLinear(`layers.${l}.mlp.dense_4h_to_h`, dMlp, d),
    ]),
    ...normTensors('final_layer_norm', d),
    ...torchLinear('embed_out', d, vocabSize),
  ],
}

const headDimOf = (v: Values): number => num(v, 'hidden_size') / num(v, 'num_attention_heads')

/** GPT-NeoX rotates the first floor(head_dim × rotary_pct) channels of each head, as HF does. */
export function rotaryDims(v: Values): number {
  return Math.floor(headDimOf(v) * num(v, 'rotary_pct'))
}

/** Llama 3.1's rope_scaling, or null / type "default" for plain rotary. */
const ropeScaling: FieldRule = {
  what: 'null or {"rope_type": "llama3", "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}',
  fallback: null,
  check: (s) => {
    if (s === null) return null
    if (typeof s !== 'object' || Array.isArray(s)) return `is ${show(s)}`
    const o = s as Values
    const type = o.rope_type ?? o.type ?? 'default'
    if (type === 'default') return null
    if (type !== 'llama3') return `has type ${show(type)}; only "default" and "llama3" are implemented`
    const positive = (k: string): boolean => typeof o[k] === 'number' && Number.isFinite(o[k]) && (o[k] as number) > 0
    for (const k of ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings']) {
      if (!positive(k)) return `has "${k}" = ${show(o[k])}, which should be a number greater than 0`
    }
    if ((o.high_freq_factor as number) <= (o.low_freq_factor as number)) {
      return `has "high_freq_factor" = ${show(o.high_freq_factor)} not above "low_freq_factor" = ${show(o.low_freq_factor)} (the smoothing band between them would be empty)`
    }
    return null
  },
}

const LLAMA: ArchitectureSchema = {
  prefix: 'model.',
  fields: {
    ...TOKEN_FIELDS,
    hidden_size: positiveInt(),
    num_attention_heads: positiveInt(),
    num_key_value_heads: positiveInt((v) => num(v, 'num_attention_heads')),
    head_dim: positiveInt((v) => num(v, 'hidden_size') / num(v, 'num_attention_heads')),
    num_hidden_layers: positiveInt(),
    intermediate_size: positiveInt(),
    vocab_size: positiveInt(),
    max_position_embeddings: positiveInt(),
    rms_norm_eps: positiveNumber(1e-6),
    rope_theta: positiveNumber(10000),
    hidden_act: oneOf(['silu'], 'silu'),
    pretraining_tp: oneOf([1], 1),
    tie_word_embeddings: boolean(false),
    rope_scaling: ropeScaling,
  },
  rules: [
    // Without an explicit head_dim the width is split evenly among the heads.
    (v) =>
      Number.isInteger(num(v, 'head_dim'))
        ? null
        : `"hidden_size" = ${num(v, 'hidden_size')} is not a multiple of "num_attention_heads" = ${num(v, 'num_attention_heads')} and no "head_dim" is given (each attention head takes an equal slice of the width)`,
    divides('num_key_value_heads', 'num_attention_heads', 'each key/value head serves an equal group of query heads'),
    (v) =>
      num(v, 'head_dim') % 2 === 0
        ? null
        : `"head_dim" is ${num(v, 'head_dim')}, but rotary embeddings turn channels in pairs: it must be even`,
  ],
  dims: (v) => ({
    nLayers: num(v, 'num_hidden_layers'),
    dModel: num(v, 'hidden_size'),
    nHeads: num(v, 'num_attention_heads'),
    nKvHeads: num(v, 'num_key_value_heads'),
    headDim: num(v, 'head_dim'),
    dMlp: num(v, 'intermediate_size'),
    vocabSize: num(v, 'vocab_size'),
    maxPositions: num(v, 'max_position_embeddings'),
  }),
  tensors: (v, { nLayers, dModel: d, nHeads, nKvHeads, headDim, dMlp, vocabSize }) => [
    { name: 'embed_tokens.weight', shape: [vocabSize, d] },
    ...range(nLayers).flatMap((l) => [
      ...normTensors(`layers.${l}.input_layernorm`, d, false),
      ...torchLinear(`layers.${l}.self_attn.q_proj`, d, nHeads * headDim),
      ...torchLinear(`layers.${l}.self_attn.k_proj`, d, nKvHeads * headDim),
      ...torchLinear(`layers.${l}.self_attn.v_proj`, d, nKvHeads * headDim),
      ...torchLinear(`layers.${l}.self_attn.o_proj`, nHeads * headDim, d),
      ...normTensors(`layers.${l}.post_attention_layernorm`, d, false),
      ...torchLinear(`layers.${l}.mlp.gate_proj`, d, dMlp),
      ...torchLinear(`layers.${l}.mlp.up_proj`, d, dMlp),
      ...torchLinear(`layers.${l}.mlp.down_proj`, dMlp, d),
    ]),
    ...normTensors('norm', d, false),
    // Tied models (Llama 3.2 1B/3B) ship no lm_head: the embedding is reused.
    ...(v.tie_word_embeddings ? [] : torchLinear('lm_head', d, vocabSize)),
  ],
}

const SCHEMAS: Record<Architecture, ArchitectureSchema> = { gpt2: GPT2, gpt_neox: GPT_NEOX, llama: LLAMA }

// ------------------------------------------------------------------------------ validation

const FIX_CONFIG = 'use the config.json that came with these weights (re-download it from the model page)'

/** config.json after validation: every field the architecture reads, defaults filled in. */
export class ValidConfig {
  readonly dims: ConfigDims

  constructor(
    readonly architecture: Architecture,
    /** config.json's path, for messages. */
    readonly path: string,
    /** config.json as read. */
    readonly raw: Record<string, unknown>,
    /** The checked fields, defaults filled in. */
    readonly fields: Readonly<Values>,
  ) {
    this.dims = SCHEMAS[architecture].dims(fields)
  }

  /** A numeric field (already checked): loaders read their sizes here, never from raw. */
  number(key: string): number {
    return this.field(key, 'number') as number
  }

  boolean(key: string): boolean {
    return this.field(key, 'boolean') as boolean
  }

  string(key: string): string {
    return this.field(key, 'string') as string
  }

  /** bos_token_id / eos_token_id as a list (empty when absent). */
  tokenIds(key: 'bos_token_id' | 'eos_token_id'): number[] {
    const value = this.value(key) as number | number[] | null
    return value === null ? [] : Array.isArray(value) ? value : [value]
  }

  /** Any checked field (lists, objects such as rope_scaling). */
  value(key: string): unknown {
    if (!Object.hasOwn(this.fields, key)) throw new Error(`${key} is not a field of the ${this.architecture} schema`)
    return this.fields[key]
  }

  private field(key: string, type: string): unknown {
    const value = this.value(key)
    // A loader asking for a field as the wrong type is a bug here, not in the user's file.
    if (typeof value !== type) throw new Error(`${this.architecture} field ${key} is ${typeof value}, not ${type}`)
    return value
  }
}

/**
 * Checks every config.json field `architecture` uses; throws a ModelLoadError naming the file,
 * the field, what it should be and the fix.
 */
export function validateConfig(architecture: Architecture, config: Record<string, unknown>, path: string): ValidConfig {
  const schema = SCHEMAS[architecture]
  const values: Values = {}
  for (const [key, rule] of Object.entries(schema.fields)) {
    if (rule.when && !rule.when(values)) continue
    const found = [key, ...(rule.aliases ?? [])].find((k) => config[k] !== undefined && config[k] !== null)
    if (found === undefined) {
      if (rule.fallback === undefined) {
        throw new ModelLoadError(`${path} lacks ${rule.what} "${key}": ${FIX_CONFIG}.`)
      }
      values[key] = typeof rule.fallback === 'function' ? rule.fallback(values) : rule.fallback
      continue
    }
    const problem = rule.check(config[found])
    if (problem !== null) {
      throw new ModelLoadError(`${path}: "${found}" ${problem}, but it must be ${rule.what}: correct it or ${FIX_CONFIG}.`)
    }
    values[key] = config[found]
  }
  for (const rule of schema.rules) {
    const problem = rule(values)
    if (problem !== null) throw new ModelLoadError(`${path}: ${problem}. These weights cannot run with this config: ${FIX_CONFIG}.`)
  }
  return new ValidConfig(architecture, path, config, values)
}

// ---------------------------------------------------------------------------------- tensors

/** What the header check needs from a weight store: names, shapes, dtypes and files, no data. */
export interface HeaderSource {
  names(): string[]
  has(name: string): boolean
  info(name: string): { shape: number[]; dtype: string; file: string }
}

/** Dtypes the loaders can widen to float32 exactly (SafetensorsFile.readFloat32). */
export const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16']

/** The stored name of a planned tensor: prefixed first, then bare, as the loaders resolve it. */
export function storedName(architecture: Architecture, name: string, has: (n: string) => boolean): string | null {
  const prefixed = SCHEMAS[architecture].prefix + name
  if (has(prefixed)) return prefixed
  return has(name) ? name : null
}

/** Every tensor the architecture's loader reads, with the shape config.json implies. */
export function plannedTensors(config: ValidConfig): PlannedTensor[] {
  return SCHEMAS[config.architecture].tensors(config.fields, config.dims)
}

/**
 * Checks from headers alone that every tensor the loader will read is there, in the shape
 * config.json implies and a dtype it can read; throws a ModelLoadError naming the tensor, the
 * file and the fix otherwise.
 */
export function checkTensors(config: ValidConfig, store: HeaderSource, files: readonly string[]): void {
  // Every layer has tensors of its own, so more layers than tensors cannot be right; said before
  // the plan is built, since a config claiming 10^12 layers must not build a 10^12-entry plan.
  const stored = store.names().length
  if (config.dims.nLayers > stored) {
    throw new ModelLoadError(
      `${config.path} says the model has ${config.dims.nLayers} layers, but ${files.join(', ')} ${files.length === 1 ? 'holds' : 'hold'} only ${stored} tensors: ` +
        're-download the weights, or use the config.json that came with them.',
    )
  }
  for (const t of plannedTensors(config)) {
    const name = storedName(config.architecture, t.name, (n) => store.has(n))
    if (name === null) {
      if (t.optional) continue
      throw new ModelLoadError(
        `${files.join(', ')} ${files.length === 1 ? 'lacks' : 'lack'} tensor "${SCHEMAS[config.architecture].prefix}${t.name}", which ${config.path} implies (${describeDims(config)}): ` +
          're-download the weights, or use the config.json that came with them.',
      )
    }
    const { shape, dtype, file } = store.info(name)
    if (shape.length !== t.shape.length || shape.some((n, i) => n !== t.shape[i])) {
      throw new ModelLoadError(
        `${file}: tensor "${name}" has shape [${shape.join(', ')}] but ${config.path} implies [${t.shape.join(', ')}] (${describeDims(config)}): ` +
          'the weights and config.json are from different models; re-download them together.',
      )
    }
    if (!FLOAT_DTYPES.includes(dtype)) {
      throw new ModelLoadError(
        `${file}: tensor "${name}" is stored as ${dtype}, but model weights must be ${FLOAT_DTYPES.join(', ')}: re-export the model in one of those dtypes (quantized checkpoints are not supported).`,
      )
    }
  }
}

function describeDims(config: ValidConfig): string {
  const d = config.dims
  return `${d.nLayers} layers, width ${d.dModel}, MLP width ${d.dMlp}, ${d.nHeads} heads, vocabulary ${d.vocabSize}`
}
