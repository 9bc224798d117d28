// The vocabulary an architecture's declarative spec is written in: config.json field rules (type,
// range, default), rules between fields, and the tensors a loader will read. Each architecture
// module (models/gpt2.ts, models/gpt_neox.ts, models/llama.ts) declares its ArchitectureSchema
// with these; architectures.ts checks a folder against it.
export type Values = Record<string, unknown>

export type Scalar = string | number | boolean | null
export type Fallback = Scalar | ((v: Values) => unknown)

export interface FieldRule {
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
export const show = (value: unknown): string =>
  typeof value === 'number' && !Number.isFinite(value) ? String(value) : (JSON.stringify(value) ?? String(value))

export const positiveInt = (fallback?: FieldRule['fallback']): FieldRule => ({
  what: 'a positive integer',
  check: (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? null : `is ${show(v)}`),
  fallback,
})

/** A finite number > 0: epsilons (a zero or negative one divides by zero), rotary bases. */
export const positiveNumber = (fallback?: number): FieldRule => ({
  what: 'a finite number greater than 0',
  check: (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? null : `is ${show(v)}`),
  fallback,
})

export const oneOf = (values: readonly Scalar[], fallback: Scalar): FieldRule => ({
  what: `one of ${values.map(show).join(', ')} (the only ${values.length === 1 ? 'value' : 'values'} MxD Studio implements)`,
  check: (v) => ((values as readonly unknown[]).includes(v) ? null : `is ${show(v)}`),
  fallback,
})

export const boolean = (fallback: boolean): FieldRule => ({
  what: 'true or false',
  check: (v) => (typeof v === 'boolean' ? null : `is ${show(v)}`),
  fallback,
})

/**
 * bos/eos token ids: a whole number ≥ 0, a list of them (Llama 3 has several EOS ids), or absent.
 * (Not checked against vocab_size: some checkpoints name ids their vocabulary lacks, which then
 * simply never occur.)
 */
export const tokenIds: FieldRule = {
  what: 'a whole number ≥ 0 or a list of them',
  check: (v) => {
    const ok = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
    return ok(v) || (Array.isArray(v) && v.every(ok)) ? null : `is ${show(v)}`
  },
  fallback: null,
}

export const TOKEN_FIELDS = { bos_token_id: tokenIds, eos_token_id: tokenIds }

// ------------------------------------------------------------------------ the architectures

export interface PlannedTensor {
  /** Without the architecture's prefix; the prefixed name is tried first, as the loaders do. */
  name: string
  shape: number[]
  /** Biases some checkpoints omit: checked when present. */
  optional?: boolean
}

export interface ArchitectureSchema {
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

export const num = (v: Values, key: string): number => v[key] as number

export const divides = (part: string, whole: string, why: string) => (v: Values) =>
  num(v, whole) % num(v, part) === 0 ? null : `"${whole}" = ${num(v, whole)} is not a multiple of "${part}" = ${num(v, part)} (${why})`

/** Weight and bias of a norm of width d. */
export const normTensors = (prefix: string, d: number, bias = true): PlannedTensor[] => [
  { name: `${prefix}.weight`, shape: [d] },
  ...(bias ? [{ name: `${prefix}.bias`, shape: [d] }] : []),
]

/** A torch nn.Linear: weight [out, in], bias optional. */
export const torchLinear = (prefix: string, inDim: number, outDim: number): PlannedTensor[] => [
  { name: `${prefix}.weight`, shape: [outDim, inDim] },
  { name: `${prefix}.bias`, shape: [outDim], optional: true },
]

export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

/** config.json after validation: every field the architecture reads, defaults filled in. */
export class ValidConfig {
  readonly dims: ConfigDims

  constructor(
    /** config.json's model_type (models/registry.ts lists them). */
    readonly architecture: string,
    /** Its schema (the architecture module's), which checked these fields. */
    readonly schema: ArchitectureSchema,
    /** config.json's path, for messages. */
    readonly path: string,
    /** config.json as read. */
    readonly raw: Record<string, unknown>,
    /** The checked fields, defaults filled in. */
    readonly fields: Readonly<Values>,
  ) {
    this.dims = schema.dims(fields)
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
