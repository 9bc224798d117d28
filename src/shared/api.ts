// The one API contract. Electron IPC (src/preload + src/main), the web-mode WebSocket
// (src/server) and the CLI (src/cli) all speak exactly these methods and events; the back end
// validates every input against these schemas before any handler runs (src/backend/dispatch.ts).
import { z } from 'zod'
import { fieldName, pathString } from './limits.js'
import { ConvertConfig, ConvertPreview, ConvertSweep, LayerKind, LearningRate } from './convert.js'
import { GenerateRequest, GenerationId, ModelDescription, ModelEntry, ModelId, PlaygroundEvent, SplicableLayer } from './models.js'
import { PretrainPreview, PretrainPreviewRequest } from './pretrain.js'
import { ExpertAnalysisGet, ExpertAnalysisRequest, ExpertAnalysisResult, ModelExperts } from './experts.js'
import {
  FeatureAblation,
  FeatureAblationRequest,
  FeatureGetRequest,
  FeatureIndexRequest,
  FeatureLabel,
  FeatureLabels,
  FeatureLabelSet,
  FeatureLabelsRequest,
  FeatureList,
  FeatureListRequest,
  FeatureSearchRequest,
  FeatureSearchResult,
  FeatureTokenRequest,
  FeatureTokenUnits,
  FeatureUnit,
} from './features.js'
import { ImageExpertsGet, ImageExpertsRequest, ImageExpertsResult } from './image-experts.js'
import { ImageAddRequest, ImageDataset, ImageGetRequest, ImageGetResult, ImageLocation } from './images.js'
import {
  ClassifyEvaluateRequest,
  ClassifyGetRequest,
  ClassifyPrediction,
  ClassifyPredictRequest,
  ClassifyPreview,
  ClassifyPreviewRequest,
  ClassifyRunState,
  ClassifyStartRequest,
} from './classify.js'
import {
  CertificateSummary,
  PrivacyAttackConfig,
  PrivacyCertifyConfig,
  PrivacyFinetuneConfig,
  PrivacyGetRequest,
  PrivacyPreviewRequest,
  PrivacyReport,
  PrivacyReportRequest,
  PrivacyRunState,
  PrivacyVerifyConfig,
  ProtectedSetInfo,
} from './privacy.js'
import { ProbeGetRequest, ProbeList, ProbeListRequest, ProbeRunState, ProbeStartRequest } from './probe.js'
import { PresetDelete, PresetSave, SteeringPreset, SteerScoreGet, SteerScoreRequest, SteerScoreResult } from './steering.js'
import { EvaluateRequest, ExportRequest, ExportResult, Frontier, FrontierRequest, ImportRequest, ImportResult } from './convert-eval.js'

export const RunId = z.number().int().positive()

export const RunKind = z.enum([
  'bench-backend',
  'pretrain',
  'convert',
  'convert-eval',
  'layer-import',
  'expert-analysis',
  'feature-index',
  'probe',
  'steer-score',
  'classify-train',
  'classify-eval',
  'image-experts',
  'privacy-finetune',
  'privacy-certify',
  'privacy-attack',
  'privacy-verify',
])
export type RunKind = z.infer<typeof RunKind>

export const RunStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'])
export type RunStatus = z.infer<typeof RunStatus>

export const Run = z.object({
  id: RunId,
  kind: RunKind,
  status: RunStatus,
  config: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  error: z.string().nullable(),
})
export type Run = z.infer<typeof Run>

export const Metric = z.object({ step: z.number().int(), name: z.string(), value: z.number() })
export type Metric = z.infer<typeof Metric>

export const Checkpoint = z.object({
  step: z.number().int(),
  path: z.string(),
  sha256: z.string(),
  createdAt: z.string(),
})
export type Checkpoint = z.infer<typeof Checkpoint>

export const LogLine = z.object({ at: z.string(), level: z.enum(['info', 'warn', 'error']), message: z.string() })
export type LogLine = z.infer<typeof LogLine>

export const RunDetail = z.object({
  run: Run,
  metrics: z.array(Metric),
  checkpoints: z.array(Checkpoint),
  log: z.array(LogLine),
})
export type RunDetail = z.infer<typeof RunDetail>

export const BackendName = z.enum(['tensorflow', 'wasm', 'cpu'])
export type BackendName = z.infer<typeof BackendName>

/** The wasm backend's kernels that run natively (OpenBLAS, src/engine/native.ts), or why none do. */
export const NativeKernels = z.object({
  kernels: z.array(z.string()),
  reason: z.string().nullable(),
  blas: z.string().nullable(),
  corename: z.string().nullable(),
  threads: z.number().int().nullable(),
  threadsFrom: z.string().nullable(),
  /** OPENBLAS_THREAD_TIMEOUT as OpenBLAS read it (its idle threads spin 2^n cycles); null when unset. */
  threadTimeout: z.string().nullable(),
})
export type NativeKernels = z.infer<typeof NativeKernels>

/** What `mxd doctor` prints and the status bar shows. */
export const DoctorReport = z.object({
  app: z.string(),
  version: z.string(),
  node: z.string(),
  electron: z.string().nullable(),
  backend: BackendName,
  /** Why each better backend was not used, e.g. "tfjs-node-gpu not installed". */
  backendNotes: z.array(z.string()),
  tfjsVersion: z.string(),
  nativeKernels: NativeKernels,
  store: z.string(),
  database: z.string(),
  schemaVersion: z.number().int(),
  electronBinary: z.object({ present: z.boolean(), path: z.string().nullable(), note: z.string() }),
  platform: z.string(),
  cpus: z.number().int(),
})
export type DoctorReport = z.infer<typeof DoctorReport>

/** Matrix sizes are capped so a typo cannot ask for a 40 GB product. */
export const BenchBackendConfig = z.strictObject({
  sizes: z.array(z.number().int().min(8).max(4096)).min(1).max(16).default([128, 256, 512, 1024]),
  repeats: z.number().int().min(1).max(1000).default(5),
})
export type BenchBackendConfig = z.infer<typeof BenchBackendConfig>

/** Pre-training a GPT-2 (src/jobs/pretrain.ts). Sizes are capped so a typo cannot ask for a 40 GB model. */
export const PretrainConfig = z
  .strictObject({
    /** A dataset file or folder (.txt, .jsonl, .parquet); split by document into training and held-out parts. */
    data: pathString('the dataset path'),
    /** Absolute path of the output model folder. */
    out: pathString('the output folder'),
    /** A folder with tokenizer.json; without one a byte-level BPE of vocabSize tokens is trained on the training split. */
    tokenizer: pathString('the tokenizer folder').optional(),
    vocabSize: z.number().int().min(300).max(65_535).default(4096),
    layers: z.number().int().min(1).max(48),
    dModel: z.number().int().min(8).max(4096),
    heads: z.number().int().min(1).max(64),
    ctx: z.number().int().min(4).max(4096),
    mlp: z.enum(['dense', 'cpmoe', 'trmoe']).default('dense'),
    experts: z.number().int().min(2).max(1024).optional(),
    /** CP rank, or the TR rank r3 (r1 = r2 = 4); default: parameter-matched to the dense MLP. */
    rank: z.number().int().min(1).max(65_536).optional(),
    /** Training tokens (steps = ceil(tokens / (batch · ctx))). */
    tokens: z.number().int().min(1).max(1e12),
    batch: z.number().int().min(1).max(4096).default(8),
    lr: z.number().positive().max(1).default(1e-3),
    /** Warm-up steps; default 5% of the steps (at most 200). */
    warmup: z.number().int().min(0).optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
    evalEvery: z.number().int().min(1).default(50),
    evalSequences: z.number().int().min(1).max(100_000).default(64),
    checkpointEvery: z.number().int().min(1).default(50),
    heldOutFraction: z.number().min(0).lt(1).default(0.05),
    dtype: z.enum(['F32', 'F16']).default('F32'),
  })
  .refine((c) => c.dModel % c.heads === 0, { message: 'dModel must be a multiple of heads', path: ['heads'] })
  .refine((c) => c.mlp === 'dense' || c.experts !== undefined, { message: 'a μMoE MLP needs experts', path: ['experts'] })
export type PretrainConfig = z.infer<typeof PretrainConfig>

export const JobProgress = z.object({
  runId: RunId,
  kind: RunKind,
  /** 0..1 */
  fraction: z.number(),
  /** What the job counts (tokens, items, matmuls…) and how fast. */
  unit: z.string(),
  done: z.number(),
  total: z.number(),
  perSecond: z.number(),
  etaSeconds: z.number().nullable(),
  message: z.string(),
  metrics: z.record(z.string(), z.number()),
})
export type JobProgress = z.infer<typeof JobProgress>

export const DatasetFormat = z.enum(['txt', 'jsonl', 'parquet'])
export type DatasetFormat = z.infer<typeof DatasetFormat>

/** A line (or parquet row) a reader could not use: counted, never silently dropped. */
export const MalformedLine = z.object({
  file: z.string(),
  line: z.number().int(),
  unit: z.enum(['line', 'row']),
  reason: z.string(),
})
export type MalformedLine = z.infer<typeof MalformedLine>

/** A registered text dataset: a file or a folder of files of one format (src/data). */
export const Dataset = z.object({
  id: z.number().int().positive(),
  path: z.string(),
  name: z.string(),
  /** Image datasets are listed by images.list (src/shared/images.ts). */
  modality: z.literal('text'),
  /** sha256 of the file (as sha256sum prints it), or of a folder's sha256sum-style listing. */
  sha256: z.string(),
  format: DatasetFormat,
  /** Text to tokenize, or pre-tokenized "input_ids". */
  kind: z.enum(['text', 'tokens']),
  textField: z.string().nullable(),
  files: z.number().int(),
  bytes: z.number(),
  documents: z.number().int(),
  characters: z.number().int(),
  /** Token ids of a pre-tokenized dataset; null for text. */
  tokens: z.number().int().nullable(),
  heldOutFraction: z.number(),
  heldOutDocuments: z.number().int(),
  /** Every unusable line is counted; the first few are kept as examples. */
  malformed: z.object({ count: z.number().int(), examples: z.array(MalformedLine) }),
  addedAt: z.string(),
  updatedAt: z.string(),
  /** The hash before the latest re-registration, when the content had changed; else null. */
  previousSha256: z.string().nullable(),
  /** Whether the files still match what was registered (size and modification time). */
  status: z.enum(['ok', 'changed', 'missing']),
})
export type Dataset = z.infer<typeof Dataset>

/**
 * What tells runs apart in a list: the model, block and layer kind a conversion (or evaluation,
 * or imported layer) is about, and its headline held-out metrics. Null where a kind has no such fact.
 */
export const RunSummary = z.object({
  id: RunId,
  /** The model's display name (registered name, else the folder's name). */
  model: z.string().nullable(),
  /** The registered model's id, for links; null when the model is not registered. */
  modelId: z.number().int().positive().nullable(),
  layer: z.number().int().nullable(),
  layerKind: LayerKind.nullable(),
  k: z.number().int().nullable(),
  /** The dataset's name (registered name, else the path's last part). */
  dataset: z.string().nullable(),
  /** Held-out NMSE of the newest evaluation (eval.nmse). */
  nmse: z.number().nullable(),
  /** Held-out loss recovered of that evaluation (eval.loss_recovered). */
  lossRecovered: z.number().nullable(),
  /** The last training NMSE, for a conversion not evaluated yet. */
  trainNmse: z.number().nullable(),
})
export type RunSummary = z.infer<typeof RunSummary>

export const RunDeleteResult = z.object({
  id: RunId,
  /** The run folder the app wrote (checkpoints, layer), removed; null when there was none. */
  removedDir: z.string().nullable(),
})
export type RunDeleteResult = z.infer<typeof RunDeleteResult>

const Empty = z.strictObject({})
const ByRun = z.strictObject({ id: RunId })

/**
 * Every method: its input schema (strict: unknown fields are refused) and its output schema.
 * Add a capability by adding a line here and a handler in src/backend/handlers.
 */
export const contract = {
  'app.diagnose': { input: Empty, output: DoctorReport },
  'runs.list': {
    input: z.strictObject({
      limit: z.number().int().min(1).max(10_000).default(500),
      kind: RunKind.optional(),
    }),
    output: z.array(Run),
  },
  'runs.get': { input: ByRun, output: RunDetail },
  /** One summary per run of runs.list (same limit and kind), newest first. */
  'runs.summarize': {
    input: z.strictObject({
      limit: z.number().int().min(1).max(10_000).default(500),
      kind: RunKind.optional(),
    }),
    output: z.array(RunSummary),
  },
  /** Deletes a finished run: its rows and its folder in the store; never files outside it. */
  'runs.delete': { input: ByRun, output: RunDeleteResult },
  'bench.start': { input: BenchBackendConfig, output: z.object({ runId: RunId }) },
  'pretrain.start': { input: PretrainConfig, output: z.object({ runId: RunId }) },
  'pretrain.preview': { input: PretrainPreviewRequest, output: PretrainPreview },
  'jobs.cancel': { input: ByRun, output: z.object({ status: RunStatus }) },
  'jobs.resume': {
    /** lr: a conversion run goes on from its checkpoint at this learning rate (recorded in its config and log). */
    input: z.strictObject({ id: RunId, lr: LearningRate.optional() }),
    output: z.object({ runId: RunId }),
  },
  'models.list': { input: Empty, output: z.array(ModelEntry) },
  'models.add': { input: z.strictObject({ path: pathString('the model folder') }), output: ModelEntry },
  'models.remove': { input: z.strictObject({ id: ModelId }), output: z.object({ removed: z.boolean() }) },
  'models.inspect': { input: z.strictObject({ id: ModelId }), output: ModelDescription },
  'playground.generate': { input: GenerateRequest, output: z.object({ generationId: GenerationId }) },
  'playground.stop': { input: z.strictObject({ generationId: GenerationId }), output: z.object({ stopped: z.boolean() }) },
  /** The trained or imported sparse layers that can replace one of this model's MLPs, newest first. */
  'playground.listLayers': { input: z.strictObject({ modelId: ModelId }), output: z.array(SplicableLayer) },
  /** The expert-specialisation analysis of a μMoE model (job kind expert-analysis), and its result. */
  'experts.analyze': { input: ExpertAnalysisRequest, output: z.object({ runId: RunId }) },
  'experts.get': { input: ExpertAnalysisGet, output: ExpertAnalysisResult },
  'experts.list': { input: z.strictObject({ modelId: ModelId }), output: ModelExperts },
  'datasets.list': { input: Empty, output: z.array(Dataset) },
  'datasets.add': {
    input: z.strictObject({
      path: pathString('the dataset path'),
      /** The JSON field or parquet column holding the text (default "text", else "input_ids"). */
      textField: fieldName('the text field').optional(),
      heldOutFraction: z.number().min(0).lt(1).optional(),
    }),
    output: Dataset,
  },
  /** Registers (or updates) an image dataset: an MNIST-layout IDX folder or a folder of images by class. */
  'images.add': { input: ImageAddRequest, output: ImageDataset },
  'images.list': { input: Empty, output: z.array(ImageDataset) },
  /** Where known image datasets (Fashion-MNIST from Debian) are installed, and whether they are there. */
  'images.listLocations': { input: Empty, output: z.array(ImageLocation) },
  /** A few images of a split (pixels as base64), for the pages that show them. */
  'images.get': { input: ImageGetRequest, output: ImageGetResult },
  /** Image classifiers (docs/classifiers.md): train (job classify-train), evaluate (job classify-eval), a run's result, predict one image (engine worker). */
  'classify.start': { input: ClassifyStartRequest, output: z.object({ runId: RunId, datasetId: z.number().int() }) },
  'classify.evaluate': { input: ClassifyEvaluateRequest, output: z.object({ runId: RunId }) },
  'classify.get': { input: ClassifyGetRequest, output: ClassifyRunState },
  'classify.preview': { input: ClassifyPreviewRequest, output: ClassifyPreview },
  'classify.predict': { input: ClassifyPredictRequest, output: ClassifyPrediction },
  /** Expert specialisation of a saved μMoE mixer on an image split (job kind image-experts), and its result. */
  'classify.analyzeExperts': { input: ImageExpertsRequest, output: z.object({ runId: RunId }) },
  'classify.getExperts': { input: ImageExpertsGet, output: ImageExpertsResult },
  /** Test-time privacy (docs/privacy.md): preview a protected set; Pareto fine-tuning, certified Newton step, attacks, verification (jobs privacy-*); a run's result; the certificates. */
  'privacy.preview': { input: PrivacyPreviewRequest, output: ProtectedSetInfo },
  'privacy.finetune': { input: PrivacyFinetuneConfig, output: z.object({ runId: RunId }) },
  'privacy.certify': { input: PrivacyCertifyConfig, output: z.object({ runId: RunId }) },
  'privacy.attack': { input: PrivacyAttackConfig, output: z.object({ runId: RunId }) },
  'privacy.verify': { input: PrivacyVerifyConfig, output: z.object({ runId: RunId }) },
  'privacy.get': { input: PrivacyGetRequest, output: PrivacyRunState },
  'privacy.listCertificates': { input: Empty, output: z.array(CertificateSummary) },
  'privacy.getReport': { input: PrivacyReportRequest, output: PrivacyReport },
  'convert.start': { input: ConvertConfig, output: z.object({ runId: RunId }) },
  'convert.sweep': { input: ConvertSweep, output: z.object({ runIds: z.array(RunId) }) },
  'convert.preview': { input: ConvertConfig, output: ConvertPreview },
  'convert.evaluate': { input: EvaluateRequest, output: z.object({ runId: RunId }) },
  'convert.export': { input: ExportRequest, output: ExportResult },
  'convert.import': { input: ImportRequest, output: ImportResult },
  'convert.getFrontier': { input: FrontierRequest, output: Frontier },
  /** Feature browsing: index a layer run's units (job kind feature-index), list them, one unit's page. */
  'features.start': { input: FeatureIndexRequest, output: z.object({ runId: RunId }) },
  'features.list': { input: FeatureListRequest, output: FeatureList },
  'features.get': { input: FeatureGetRequest, output: FeatureUnit },
  /** The units of an index that fire most on one token (approximate counts). */
  'features.listByToken': { input: FeatureTokenRequest, output: FeatureTokenUnits },
  /** The units active at each token of a text or of token ids, with the layer spliced into its model (engine worker). */
  'features.search': { input: FeatureSearchRequest, output: FeatureSearchResult },
  /** A unit's direct effect on the next token's log-prob on its top contexts (engine worker). */
  'features.ablate': { input: FeatureAblationRequest, output: FeatureAblation },
  /** The user's label and notes on a unit; empty label and notes remove them. */
  'features.setLabel': { input: FeatureLabelSet, output: FeatureLabel.nullable() },
  'features.listLabels': { input: FeatureLabelsRequest, output: FeatureLabels },
  /** Sparse probing of a layer run on a labelled task (job kind probe), one run's result, the runs for a comparison table. */
  'probe.start': { input: ProbeStartRequest, output: z.object({ runId: RunId }) },
  'probe.get': { input: ProbeGetRequest, output: ProbeRunState },
  'probe.list': { input: ProbeListRequest, output: ProbeList },
  /** Steering presets (the paper's built in, id 0) and the steering score of units (job kind steer-score). */
  'steering.listPresets': { input: Empty, output: z.array(SteeringPreset) },
  'steering.savePreset': { input: PresetSave, output: SteeringPreset },
  'steering.deletePreset': { input: PresetDelete, output: z.object({ deleted: z.boolean() }) },
  'steering.score': { input: SteerScoreRequest, output: z.object({ runId: RunId }) },
  'steering.getScore': { input: SteerScoreGet, output: SteerScoreResult },
} as const

export type Contract = typeof contract
export type Method = keyof Contract
export const methods = Object.keys(contract) as Method[]
export type Input<M extends Method> = z.input<Contract[M]['input']>
export type ParsedInput<M extends Method> = z.output<Contract[M]['input']>
export type Output<M extends Method> = z.output<Contract[M]['output']>

/** Events the back end pushes to every client. */
export const eventSchemas = {
  'job.progress': JobProgress,
  'run.changed': Run,
  /** A run and its files were deleted (runs.delete): every window drops it. */
  'run.deleted': z.object({ id: RunId }),
  'playground.event': PlaygroundEvent,
} as const
export type EventName = keyof typeof eventSchemas
export type EventPayload<E extends EventName> = z.output<(typeof eventSchemas)[E]>
export type ApiEvent = { [E in EventName]: { event: E; data: EventPayload<E> } }[EventName]

// Errors live in a zod-free module so the renderer can throw and catch them without bundling zod.
export { ApiError, ERROR_CODES, type ApiErrorBody, type ErrorCode } from './errors.js'
import type { ApiErrorBody } from './errors.js'

export type Reply<T> = { ok: true; value: T } | { ok: false; error: ApiErrorBody }

/** What a client (renderer, CLI, tests) holds: the same shape over IPC and over WebSocket. */
export interface MxdClient {
  call<M extends Method>(method: M, input: Input<M>): Promise<Output<M>>
  subscribe(listener: (event: ApiEvent) => void): () => void
}
