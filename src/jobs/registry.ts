// Every kind of job, one line each: the worker looks a run's kind up here for the schema its
// config is parsed with and the function that runs it. Adding a job is its module (exporting one
// defineJob(...)) and its line here; the key must be the definition's own kind (jobs-registry.test).
import type { RunKind } from '../shared/api.js'
import { benchBackendJob } from './bench-backend.js'
import { classifyEvalJob } from './classify/eval.js'
import { classifyTrainJob } from './classify/train.js'
import { convertEvalJob } from './convert/eval.js'
import { layerImportJob } from './convert/layer-import.js'
import { convertJob } from './convert/train.js'
import { expertAnalysisJob } from './expert-analysis.js'
import { featureIndexJob } from './features/index.js'
import { imageExpertsJob } from './image-experts.js'
import type { JobDefinition } from './job.js'
import { pretrainJob } from './pretrain.js'
import { privacyAttackJob } from './privacy/attack.js'
import { privacyCertifyJob } from './privacy/certify.js'
import { privacyFinetuneJob } from './privacy/finetune.js'
import { privacyVerifyJob } from './privacy/verify.js'
import { probeJob } from './probe.js'
import { steerScoreJob } from './steer-score.js'

export const jobs: Record<RunKind, JobDefinition> = {
  'bench-backend': benchBackendJob,
  pretrain: pretrainJob,
  'expert-analysis': expertAnalysisJob,
  convert: convertJob,
  'convert-eval': convertEvalJob,
  'layer-import': layerImportJob,
  'feature-index': featureIndexJob,
  probe: probeJob,
  'steer-score': steerScoreJob,
  'classify-train': classifyTrainJob,
  'classify-eval': classifyEvalJob,
  'image-experts': imageExpertsJob,
  'privacy-finetune': privacyFinetuneJob,
  'privacy-certify': privacyCertifyJob,
  'privacy-attack': privacyAttackJob,
  'privacy-verify': privacyVerifyJob,
}
