// The supported architectures, one entry each. An architecture is one module under models/ that
// exports its declarative spec (config.json fields and the tensors they imply, checked by
// architectures.ts before any weight is read) and its loader (tensors → DecoderSpec, run by
// model.ts's Decoder). Adding one: write that module, add it below and its model_type to
// model-folder.ts's SUPPORTED_MODEL_TYPES (the Record type makes the two lists agree).
import type { ValidConfig } from '../architectures.js'
import type { ArchitectureSchema } from '../config-fields.js'
import type { Architecture } from '../model-folder.js'
import { gpt2Architecture } from './gpt2.js'
import { gptNeoxArchitecture } from './gpt_neox.js'
import { llamaArchitecture } from './llama.js'
import type { DecoderSpec } from './model.js'
import type { WeightSource } from './weights.js'

export interface ArchitectureModule {
  schema: ArchitectureSchema
  load: (config: ValidConfig, weights: WeightSource) => DecoderSpec
}

/**
 * The module of `architecture`. A function rather than a table built at import: model-folder.ts →
 * architectures.ts → here → the architecture modules → weights.ts → model-folder.ts is an import
 * cycle, which is harmless only while nothing reads a binding of it before every module has run.
 */
export function architectureModule(architecture: Architecture): ArchitectureModule {
  const modules: Record<Architecture, ArchitectureModule> = { gpt2: gpt2Architecture, gpt_neox: gptNeoxArchitecture, llama: llamaArchitecture }
  return modules[architecture]
}
