// The supported architectures, one entry each. An architecture is one module under models/ that
// exports its declarative spec (config.json fields and the tensors they imply, checked by
// architectures.ts before any weight is read) and its loader (tensors → DecoderSpec, run by
// model.ts's Decoder). Adding one: write that module, add it below and its model_type to
// the line below: SUPPORTED_MODEL_TYPES and the Architecture type are read off this table.
import type { ArchitectureModule } from './architecture.js'
import { gpt2Architecture } from './gpt2.js'
import { gptNeoxArchitecture } from './gpt_neox.js'
import { llamaArchitecture } from './llama.js'

/** Every supported architecture by its config.json model_type. */
const MODULES = { gpt2: gpt2Architecture, gpt_neox: gptNeoxArchitecture, llama: llamaArchitecture } satisfies Record<
  string,
  ArchitectureModule
>

export type Architecture = keyof typeof MODULES
export const SUPPORTED_MODEL_TYPES = Object.keys(MODULES) as readonly Architecture[]
export type { ArchitectureModule }

/** The module of `architecture`. */
export function architectureModule(architecture: Architecture): ArchitectureModule {
  return MODULES[architecture]
}
