// Steering (docs/steering.md): saved steering settings (presets) and the steering score of a
// layer's units (job kind steer-score). The paper's setting is one built-in preset.
import { z } from 'zod'
import { Steer } from './models.js'

export const STEERING_LIMITS = {
  maxName: 80,
  maxPrompt: 2_000,
  /** As GenerateSplice: at most 16 steered units at once. */
  maxSteers: 16,
  maxTokens: 512,
  maxSamples: 64,
  /** Units one steering-score run may score. */
  maxScoreUnits: 256,
  /** How many of a unit's top output tokens (its effect's top list) the score counts. */
  topTokens: 10,
  maxPresets: 500,
} as const

const RunId = z.number().int().positive()

/** Everything a side-by-side comparison or a steering score generates with. */
export const SteeringSettings = z.strictObject({
  prompt: z.string().min(1, 'Type a prompt first.').max(STEERING_LIMITS.maxPrompt),
  /** The steered units and what is added to each one's post-TopK code at every position. */
  steer: z.array(Steer).max(STEERING_LIMITS.maxSteers),
  /** The strength a unit gets when it is added without one (a score steers each unit by this). */
  value: Steer.shape.value,
  maxTokens: z.number().int().min(1).max(STEERING_LIMITS.maxTokens),
  /** Samples per side: seeds seed … seed + samples − 1. */
  samples: z.number().int().min(1).max(STEERING_LIMITS.maxSamples),
  temperature: z.number().min(0).max(10),
  topP: z.number().gt(0).max(1),
  frequencyPenalty: z.number().min(-10).max(10),
  seed: z.number().int().min(0).max(2 ** 32 - 1 - STEERING_LIMITS.maxSamples),
})
export type SteeringSettings = z.infer<typeof SteeringSettings>

/** Preset ids: the built-in one is 0, saved ones are their row ids. */
export const PresetId = z.number().int().min(0)

export const SteeringPreset = z.object({
  id: PresetId,
  name: z.string(),
  builtIn: z.boolean(),
  settings: SteeringSettings,
})
export type SteeringPreset = z.infer<typeof SteeringPreset>

/**
 * The paper's setting (docs/science/mxd.md#steering): +100 on a unit's post-TopK code at every
 * position, "Let's talk about ", 32 new tokens, 10 samples, temperature 1, top-p 0.1, frequency
 * penalty 1. Its units are the user's choice, so it names none.
 */
export const PAPER_PRESET: SteeringPreset = Object.freeze({
  id: 0,
  name: 'Paper (+100, “Let’s talk about ”)',
  builtIn: true,
  settings: Object.freeze({
    prompt: "Let's talk about ",
    steer: [],
    value: 100,
    maxTokens: 32,
    samples: 10,
    temperature: 1,
    topP: 0.1,
    frequencyPenalty: 1,
    seed: 0,
  }),
})

const presetName = z
  .string()
  .trim()
  .min(1, 'Give the preset a name.')
  .max(STEERING_LIMITS.maxName, `A preset name is at most ${STEERING_LIMITS.maxName} characters.`)

/** steering.savePreset: a new preset, or (same name) replaces the saved one of that name. */
export const PresetSave = z.strictObject({ name: presetName, settings: SteeringSettings })
export const PresetDelete = z.strictObject({ id: PresetId })

/** steering.score: score `units` of a layer run with a preset's settings (default the paper's). */
export const SteerScoreRequest = z.strictObject({
  layerRunId: RunId,
  units: z.array(z.number().int().min(0).max(10_000_000)).min(1).max(STEERING_LIMITS.maxScoreUnits),
  presetId: PresetId.optional(),
  /** Overrides the preset's samples per side. */
  samples: z.number().int().min(1).max(STEERING_LIMITS.maxSamples).optional(),
})
export type SteerScoreRequest = z.infer<typeof SteerScoreRequest>

/** The steer-score job's config: the preset resolved when the run was queued. */
export const SteerScoreConfig = z.strictObject({
  layerRunId: RunId,
  units: SteerScoreRequest.shape.units,
  presetName: z.string().max(STEERING_LIMITS.maxName + 20),
  settings: SteeringSettings,
})
export type SteerScoreConfig = z.infer<typeof SteerScoreConfig>

const Sample = z.object({ seed: z.number().int(), text: z.string().nullable(), ids: z.array(z.number().int()) })
const Side = z.object({
  /** Generated tokens that are one of the unit's top tokens, over all samples. */
  hits: z.number().int(),
  /** Generated tokens over all samples. */
  tokens: z.number().int(),
  /** hits / tokens. */
  rate: z.number(),
})

export const SteerScoreUnit = z.object({
  unit: z.number().int(),
  topTokens: z.array(z.object({ id: z.number().int(), text: z.string().nullable() })),
  steered: Side,
  unsteered: Side,
  /** steered.rate − unsteered.rate: extra top-token share of the generated tokens. */
  score: z.number(),
  /** (steered.hits + 1) / (unsteered.hits + 1) · unsteered.tokens / steered.tokens (add-one smoothed rate ratio). */
  ratio: z.number(),
  /** exp(mean −log p) of the steered samples' generated tokens under the clean model. */
  perplexity: z.number(),
  samples: z.array(Sample),
})
export type SteerScoreUnit = z.infer<typeof SteerScoreUnit>

export const SteerScoreResult = z.object({
  layerRunId: RunId,
  indexRunId: RunId,
  presetName: z.string(),
  settings: SteeringSettings,
  /** The unsteered samples (spliced layer, no steering), shared by every unit. */
  baseline: z.object({ perplexity: z.number(), samples: z.array(Sample) }),
  units: z.array(SteerScoreUnit),
})
export type SteerScoreResult = z.infer<typeof SteerScoreResult>

export const SteerScoreGet = z.strictObject({ runId: RunId })
