// What an architecture module exports (models/gpt2.ts, gpt_neox.ts, llama.ts): its declarative
// spec (the config.json fields it reads and the tensors they imply, checked by architectures.ts
// before any weight is read) and its loader (tensors → DecoderSpec, run by model.ts's Decoder).
// A leaf module, so that the modules and the registry listing them import it without a cycle.
import type { ValidConfig } from '../config-fields.js'
import type { ArchitectureSchema } from '../config-fields.js'
import type { DecoderSpec } from './model.js'
import type { WeightSource } from './weights.js'

export interface ArchitectureModule {
  schema: ArchitectureSchema
  load: (config: ValidConfig, weights: WeightSource) => DecoderSpec
}
