// Image-classifier training and evaluation (docs/classifiers.md, "Training"): the configs of the
// classify-train and classify-eval jobs, the result files they write in their run folders, and
// the classify.* API's requests. The model's own config is validated again, in full, by the
// engine's classifier registry (createClassifier), which knows each model's fields and bounds;
// here it is only bounded in size so a request cannot carry an unbounded object.
import { z } from 'zod'
import { pathString } from './limits.js'

const RunId = z.number().int().positive()
const DatasetId = z.number().int().positive()

export const CLASSIFIER_MODEL_KINDS = ['logreg', 'mlp', 'mixer'] as const

/** A model config: at most 16 fields of numbers or short strings (the registry checks the rest). */
export const ModelConfigInput = z
  .record(z.string().max(40), z.union([z.number(), z.string().max(40), z.boolean()]))
  .refine((r) => Object.keys(r).length <= 16, { message: 'a model config has at most 16 fields' })

export const ClassifyOptimizer = z.strictObject({
  kind: z.enum(['adamw', 'sgd']).default('adamw'),
  lr: z.number().positive().max(10).default(1e-3),
  /** AdamW: decoupled decay (torch's default 0.01); SGD: L2 added to the gradient. */
  weightDecay: z.number().min(0).max(1).optional(),
  /** SGD only (ignored by AdamW). */
  momentum: z.number().min(0).lt(1).default(0.9),
})
export type ClassifyOptimizer = z.infer<typeof ClassifyOptimizer>

export const ClassifySchedule = z.strictObject({
  kind: z.enum(['constant', 'cosine']).default('constant'),
  /** Linear warm-up steps (cosine only). */
  warmup: z.number().int().min(0).max(1_000_000).default(0),
  /** The cosine's floor as a fraction of lr. */
  minLrRatio: z.number().min(0).max(1).default(0),
})
export type ClassifySchedule = z.infer<typeof ClassifySchedule>

export const ClassifyAugment = z.strictObject({
  /** Mirror each training image left–right with probability ½. */
  flip: z.boolean().default(false),
  /** Pad by this many zero pixels, then crop back to the image size at a random offset (0 = off). */
  cropPadding: z.number().int().min(0).max(16).default(0),
})
export type ClassifyAugment = z.infer<typeof ClassifyAugment>

/** The classify-train job's config, as stored with the run (the dataset already registered). */
export const ClassifyTrainConfig = z.strictObject({
  /** A registered image dataset (classify.start registers a path first). */
  dataset: DatasetId,
  model: z.enum(CLASSIFIER_MODEL_KINDS),
  modelConfig: ModelConfigInput.default({}),
  optimizer: ClassifyOptimizer.prefault({}),
  schedule: ClassifySchedule.prefault({}),
  augment: ClassifyAugment.prefault({}),
  epochs: z.number().int().min(1).max(1000).default(5),
  batch: z.number().int().min(1).max(4096).default(64),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  /**
   * Train on only the first N images of the train split (absent: all of it), for a quick try. The
   * validation and test splits are unchanged. More than the split holds is refused (classify.start
   * names the split's size), never silently clamped: the stored config says what was trained on.
   */
  trainImages: z.number().int().min(1).max(100_000_000).optional(),
  /** A checkpoint at the end of every epoch, and also whenever this many seconds have passed. */
  checkpointSeconds: z.number().int().min(1).max(86_400).default(300),
  /** Test images kept per class in the result's misclassified examples. */
  maxMisclassified: z.number().int().min(0).max(1000).default(50),
})
export type ClassifyTrainConfig = z.infer<typeof ClassifyTrainConfig>

/** classify.start: the train config, with the data given as a registered id or a path to register. */
export const ClassifyStartRequest = ClassifyTrainConfig.omit({ dataset: true }).extend({
  data: z.union([DatasetId, pathString('the image dataset path')]),
})
export type ClassifyStartRequest = z.input<typeof ClassifyStartRequest>

/** The classify-eval job: a trained classifier run on one split of a dataset. */
export const ClassifyEvalConfig = z.strictObject({
  /** The classify-train run whose saved model is evaluated. */
  trainRunId: RunId,
  /** Default: the training run's own dataset. */
  dataset: DatasetId.optional(),
  split: z.enum(['train', 'validation', 'test']).default('test'),
  maxMisclassified: z.number().int().min(0).max(1000).default(50),
})
export type ClassifyEvalConfig = z.infer<typeof ClassifyEvalConfig>

export const ClassifyEvaluateRequest = ClassifyEvalConfig.omit({ dataset: true }).extend({
  data: z.union([DatasetId, pathString('the image dataset path')]).optional(),
})
export type ClassifyEvaluateRequest = z.input<typeof ClassifyEvaluateRequest>

/**
 * classify.preview: a model config's size on a registered image dataset, before training. For a
 * μMoE mixer also the parameter-matched rank (the engine's matchedMixerRank: the largest rank whose
 * channel MLP is no larger than the dense one) and the dense mixer's count, for the form's rank field.
 */
export const ClassifyPreviewRequest = z.strictObject({
  data: DatasetId,
  model: z.enum(CLASSIFIER_MODEL_KINDS),
  modelConfig: ModelConfigInput.default({}),
})
export type ClassifyPreviewRequest = z.input<typeof ClassifyPreviewRequest>

export const ClassifyPreview = z.object({
  /** Trainable parameters of the model as configured (with its rank, if one is set). */
  parameters: z.number().int(),
  /** μMoE mixer only: the matched CP rank R, or TR ranks r1, r2, r3; null otherwise. */
  matchedRank: z.union([z.number().int(), z.object({ r1: z.number().int(), r2: z.number().int(), r3: z.number().int() })]).nullable(),
  /** μMoE mixer only: the same mixer with dense channel mixing; null otherwise. */
  denseParameters: z.number().int().nullable(),
  /** μMoE mixer only: the mixer at the matched rank; null otherwise. */
  matchedParameters: z.number().int().nullable(),
})
export type ClassifyPreview = z.infer<typeof ClassifyPreview>

export const Misclassified = z.object({
  /** The image's index within the evaluated split. */
  index: z.number().int(),
  label: z.number().int(),
  predicted: z.number().int(),
  probabilities: z.array(z.number()),
})
export type Misclassified = z.infer<typeof Misclassified>

/** An evaluation of a classifier on one split. */
export const ClassifyEvaluation = z.object({
  dataset: z.object({ id: z.number().int(), name: z.string(), split: z.string() }),
  classes: z.array(z.string()),
  images: z.number().int(),
  correct: z.number().int(),
  accuracy: z.number(),
  /** Per class: images, correct, accuracy (null for a class with no image in the split). */
  perClass: z.array(z.object({ images: z.number().int(), correct: z.number().int(), accuracy: z.number().nullable() })),
  /** confusion[true][predicted] */
  confusion: z.array(z.array(z.number().int())),
  misclassified: z.array(Misclassified),
})
export type ClassifyEvaluation = z.infer<typeof ClassifyEvaluation>

export const ClassifyEpoch = z.object({
  epoch: z.number().int(),
  step: z.number().int(),
  loss: z.number(),
  trainAccuracy: z.number(),
  validationAccuracy: z.number().nullable(),
  seconds: z.number(),
})

/** What a finished classify-train run wrote as result.json in its folder. */
export const ClassifyTrainResult = z.object({
  model: z.enum(CLASSIFIER_MODEL_KINDS),
  modelConfig: z.record(z.string(), z.unknown()),
  parameters: z.number().int(),
  shape: z.object({ height: z.number().int(), width: z.number().int(), channels: z.number().int(), classes: z.number().int() }),
  steps: z.number().int(),
  trainSeconds: z.number(),
  samplesPerSecond: z.number(),
  epochs: z.array(ClassifyEpoch),
  test: ClassifyEvaluation,
})
export type ClassifyTrainResult = z.infer<typeof ClassifyTrainResult>

export const CLASSIFY_RESULT_FILE = 'result.json'
export const CLASSIFY_EVAL_FILE = 'evaluation.json'
export const CLASSIFIER_CONFIG_FILE = 'config.json'
export const CLASSIFIER_WEIGHTS_FILE = 'model.safetensors'

export const ClassifyGetRequest = z.strictObject({ runId: RunId })

/** classify.get: a classify-train or classify-eval run and what it produced so far. */
export const ClassifyRunState = z.object({
  runId: z.number().int(),
  kind: z.enum(['classify-train', 'classify-eval']),
  status: z.string(),
  error: z.string().nullable(),
  config: z.record(z.string(), z.unknown()),
  /** A finished training run's result. */
  train: ClassifyTrainResult.nullable(),
  /** A finished evaluation run's result. */
  evaluation: ClassifyEvaluation.nullable(),
})
export type ClassifyRunState = z.infer<typeof ClassifyRunState>

/** The largest image classify.predict accepts: 512×512 RGB (raw) or an 8 MB encoded file. */
export const PREDICT_MAX_PIXELS = 512 * 512 * 3
export const PREDICT_MAX_BASE64 = 8 * 1024 * 1024

export const ClassifyPredictRequest = z.strictObject({
  runId: RunId,
  image: z.union([
    /** A PNG or JPEG file, base64-encoded. */
    z.strictObject({ base64: z.string().min(1).max(PREDICT_MAX_BASE64).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64') }),
    /** Raw pixels, row-major with channels last (1 gray, 3 RGB, 4 RGBA). */
    z.strictObject({
      pixels: z.array(z.number().int().min(0).max(255)).min(1).max(PREDICT_MAX_PIXELS),
      height: z.number().int().min(1).max(512),
      width: z.number().int().min(1).max(512),
      channels: z.union([z.literal(1), z.literal(3), z.literal(4)]),
    }),
  ]),
})
export type ClassifyPredictRequest = z.input<typeof ClassifyPredictRequest>

export const ClassifyPrediction = z.object({
  classes: z.array(z.string()),
  probabilities: z.array(z.number()),
  predicted: z.number().int(),
})
export type ClassifyPrediction = z.infer<typeof ClassifyPrediction>
