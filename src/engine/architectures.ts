// Checking a model folder against what its architecture needs, said once per architecture in its
// module's schema (models/registry.ts lists them; config-fields.ts is their vocabulary): the
// config.json fields it reads (type, range, default), the rules that tie them together (n_embd divisible by n_head…),
// and every tensor its loader will read, with the shape config.json implies. openModelFolder
// checks a folder against this from config.json and the safetensors headers alone (no tensor
// data), so `mxd inspect`, the Models page and loading agree: a folder inspect calls fine has
// every tensor the loader asks for, in the shape and a dtype it can read. The loaders read their
// numbers from the ValidConfig this returns instead of from config.json.
import { ValidConfig, type ArchitectureSchema, type ConfigDims, type PlannedTensor, type Values } from './config-fields.js'
import { ModelLoadError } from './load-error.js'
import { architectureModule, type Architecture } from './models/registry.js'

export { ValidConfig, type ConfigDims, type PlannedTensor }

const schemaOf = (architecture: Architecture): ArchitectureSchema => architectureModule(architecture).schema

// ------------------------------------------------------------------------------ validation

const FIX_CONFIG = 'use the config.json that came with these weights (re-download it from the model page)'

/**
 * Checks every config.json field `architecture` uses; throws a ModelLoadError naming the file,
 * the field, what it should be and the fix.
 */
export function validateConfig(architecture: Architecture, config: Record<string, unknown>, path: string): ValidConfig {
  const schema = schemaOf(architecture)
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
  return new ValidConfig(architecture, schema, path, config, values)
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
  return storedUnder(schemaOf(architecture).prefix, name, has)
}

function storedUnder(prefix: string, name: string, has: (n: string) => boolean): string | null {
  if (has(prefix + name)) return prefix + name
  return has(name) ? name : null
}

/** Every tensor the architecture's loader reads, with the shape config.json implies. */
export function plannedTensors(config: ValidConfig): PlannedTensor[] {
  return config.schema.tensors(config.fields, config.dims)
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
    const name = storedUnder(config.schema.prefix, t.name, (n) => store.has(n))
    if (name === null) {
      if (t.optional) continue
      throw new ModelLoadError(
        `${files.join(', ')} ${files.length === 1 ? 'lacks' : 'lack'} tensor "${config.schema.prefix}${t.name}", which ${config.path} implies (${describeDims(config)}): ` +
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
