// The method names alone, for the sandboxed preload, which must not bundle zod.
// test/unit/api-boundary.test.ts checks this list equals Object.keys(contract), and that every
// name is domain.verb (a verb, optionally with its object: "playground.listLayers").
export const methodNames = [
  'app.diagnose',
  'runs.list',
  'runs.get',
  'runs.summarize',
  'runs.delete',
  'bench.start',
  'pretrain.start',
  'pretrain.preview',
  'jobs.cancel',
  'jobs.resume',
  'models.list',
  'models.add',
  'models.remove',
  'models.inspect',
  'playground.generate',
  'playground.stop',
  'playground.listLayers',
  'experts.analyze',
  'experts.get',
  'experts.list',
  'datasets.list',
  'datasets.add',
  'convert.start',
  'convert.sweep',
  'convert.preview',
  'convert.evaluate',
  'convert.export',
  'convert.import',
  'convert.getFrontier',
  'features.start',
  'features.list',
  'features.get',
] as const
export const IPC_CALL_PREFIX = 'mxd:'
export const IPC_EVENT_CHANNEL = 'mxd:event'
