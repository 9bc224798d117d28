// The method names alone, for the sandboxed preload, which must not bundle zod.
// test/unit/contract.test.ts checks this list equals Object.keys(contract).
export const methodNames = [
  'app.doctor',
  'runs.list',
  'runs.get',
  'jobs.benchBackend',
  'jobs.pretrain',
  'pretrain.preview',
  'jobs.cancel',
  'jobs.resume',
  'models.list',
  'models.add',
  'models.remove',
  'models.inspect',
  'playground.generate',
  'playground.stop',
  'playground.layers',
  'experts.analyze',
  'experts.get',
  'experts.forModel',
  'datasets.list',
  'datasets.add',
  'convert.start',
  'convert.sweep',
  'convert.preview',
  'convert.evaluate',
  'convert.export',
  'convert.import',
  'convert.frontier',
] as const
export const IPC_CALL_PREFIX = 'mxd:'
export const IPC_EVENT_CHANNEL = 'mxd:event'
