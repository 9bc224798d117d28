// One handler per method of the contract; TypeScript checks that none is missing.
import { type Method, type Output, type ParsedInput } from '../../shared/api.js'
import type { BackendContext } from '../context.js'
import { doctor } from './app.js'
import { privacyHandlers } from './privacy.js'
import { evaluateClassify, getClassify, predictClassify, previewClassify, startClassify } from './classify.js'
import { addDataset, addImages, getImages, listDatasets, listImageLocations, listImages } from './datasets.js'
import { exportLayer, frontier, importLayerFolder, queueEvaluation } from './convert-eval.js'
import { previewConvert, startConversion, startSweep } from './convert.js'
import { getFeature, listFeatureLabels, listFeatures, setFeatureLabel, startFeatureIndex, unitsByToken } from './features.js'
import { ablateFeature, searchFeatures } from './feature-inspect.js'
import { analyzeExperts, getExpertAnalysis, modelExperts } from './experts.js'
import { analyzeImageExperts, getImageExperts } from './image-experts.js'
import { cancel, resume, startBenchBackend, startPretrain } from './jobs.js'
import { addModel, inspectModel, listModels, removeModel } from './models.js'
import { listSplicableLayers, startGeneration, stopGeneration } from './playground.js'
import { previewPretrain } from './pretrain.js'
import { getProbe, listProbes, startProbe } from './probe.js'
import { deleteRun, getRun, listRuns, runSummaries } from './runs.js'
import { deletePreset, getScore, listPresets, savePreset, startScore } from './steering.js'

export type Handlers = {
  [M in Method]: (ctx: BackendContext, input: ParsedInput<M>) => Output<M> | Promise<Output<M>>
}

export const handlers: Handlers = {
  'app.diagnose': (ctx) => doctor(ctx),
  'runs.list': listRuns,
  'runs.get': getRun,
  'runs.summarize': runSummaries,
  'runs.delete': deleteRun,
  'bench.start': startBenchBackend,
  'pretrain.start': startPretrain,
  'pretrain.preview': previewPretrain,
  'jobs.cancel': cancel,
  'jobs.resume': resume,
  'models.list': (ctx) => listModels(ctx),
  'models.add': addModel,
  'models.remove': removeModel,
  'models.inspect': inspectModel,
  'playground.generate': startGeneration,
  'playground.stop': stopGeneration,
  'playground.listLayers': listSplicableLayers,
  'experts.analyze': analyzeExperts,
  'experts.get': getExpertAnalysis,
  'experts.list': modelExperts,
  'datasets.list': listDatasets,
  'datasets.add': addDataset,
  'images.add': addImages,
  'images.list': listImages,
  'images.listLocations': listImageLocations,
  'images.get': getImages,
  'classify.start': startClassify,
  'classify.evaluate': evaluateClassify,
  'classify.get': getClassify,
  'classify.preview': previewClassify,
  'classify.predict': predictClassify,
  'classify.analyzeExperts': analyzeImageExperts,
  'classify.getExperts': getImageExperts,
  'privacy.preview': privacyHandlers.preview,
  'privacy.finetune': privacyHandlers.finetune,
  'privacy.certify': privacyHandlers.certify,
  'privacy.attack': privacyHandlers.attack,
  'privacy.verify': privacyHandlers.verify,
  'privacy.get': privacyHandlers.get,
  'privacy.listCertificates': privacyHandlers.listCertificates,
  'privacy.getReport': privacyHandlers.getReport,
  'convert.start': startConversion,
  'convert.sweep': startSweep,
  'convert.preview': previewConvert,
  'convert.evaluate': queueEvaluation,
  'convert.export': exportLayer,
  'convert.import': importLayerFolder,
  'convert.getFrontier': frontier,
  'features.start': startFeatureIndex,
  'features.list': listFeatures,
  'features.get': getFeature,
  'features.listByToken': unitsByToken,
  'features.search': searchFeatures,
  'features.ablate': ablateFeature,
  'features.setLabel': setFeatureLabel,
  'features.listLabels': listFeatureLabels,
  'probe.start': startProbe,
  'probe.get': getProbe,
  'probe.list': listProbes,
  'steering.listPresets': (ctx) => listPresets(ctx),
  'steering.savePreset': savePreset,
  'steering.deletePreset': deletePreset,
  'steering.score': startScore,
  'steering.getScore': getScore,
}
