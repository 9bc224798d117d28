// Which function runs each kind of job, and how its stored config is parsed. The worker looks
// jobs up here, so adding a job kind is one line plus its module.
import type { z } from 'zod'
import { BenchBackendConfig, PretrainConfig, type RunKind } from '../shared/api.js'
import { benchBackend } from './bench-backend.js'
import type { JobFn } from './job.js'
import { ConvertEvalConfig, ImportedLayerConfig } from '../shared/convert-eval.js'
import { convertEval, importedLayerJob } from '../convert/eval-job.js'
import { pretrain } from './pretrain.js'
import { ExpertAnalysisConfig } from '../shared/experts.js'
import { expertAnalysis } from './expert-analysis.js'
import { ConvertConfig } from '../shared/convert.js'
import { convertJob } from '../convert/train-job.js'

interface JobSpec<S extends z.ZodType> {
  config: S
  run: JobFn<z.output<S>>
}

function spec<S extends z.ZodType>(config: S, run: JobFn<z.output<S>>): JobSpec<S> {
  return { config, run }
}

export const jobs: Record<RunKind, JobSpec<z.ZodType>> = {
  'bench-backend': spec(BenchBackendConfig, benchBackend) as JobSpec<z.ZodType>,
  pretrain: spec(PretrainConfig, pretrain) as JobSpec<z.ZodType>,
  'expert-analysis': spec(ExpertAnalysisConfig, expertAnalysis) as JobSpec<z.ZodType>,
  convert: spec(ConvertConfig, convertJob) as JobSpec<z.ZodType>,
  'convert-eval': spec(ConvertEvalConfig, convertEval) as JobSpec<z.ZodType>,
  'layer-import': spec(ImportedLayerConfig, importedLayerJob) as JobSpec<z.ZodType>,
}
