// Shared by the feature-index tests: a real store with a seeded corpus registered as a dataset,
// a sparse layer written as a real layer folder and imported through the import path, and the
// job run in-process with the context a worker gives it.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { importLayer } from '../../../src/convert/export.js'
import { modelFingerprint, saveLayerFolder } from '../../../src/convert/layer-file.js'
import { registerDataset } from '../../../src/data/registry.js'
import { Rng } from '../../../src/data/shuffle.js'
import type { SparseLayer } from '../../../src/engine/layers/sparse-layer.js'
import { hookNames } from '../../../src/engine/hooks.js'
import { featureIndexJob } from '../../../src/jobs/features/index.js'
import type { JobContext } from '../../../src/jobs/job.js'
import { FeatureIndexConfig } from '../../../src/shared/features.js'
import { Store } from '../../../src/store/store.js'

/** The bundled demo model (GPT-2 shape, d = 192, 4 blocks, ctx 128): its tokenizer reads plain text, unlike the fixtures' toy vocabularies. */
export const DEMO = join(import.meta.dirname, '../../../resources/models/kjv-gpt2-mini')

/** Seeded pseudo-English paragraphs in dir/corpus.txt. */
export function writeCorpus(dir: string, paragraphs = 300): string {
  const words = 'the of and to in is was that for on with as by at from his her they this which be or are an'.split(' ')
  const rng = new Rng(5)
  const out: string[] = []
  for (let p = 0; p < paragraphs; p++) out.push(Array.from({ length: 15 + rng.below(20) }, () => words[rng.below(words.length)]).join(' ') + '.')
  const path = join(dir, 'corpus.txt')
  writeFileSync(path, out.join('\n\n'))
  return path
}

export interface Fixture {
  store: Store
  dir: string
  datasetId: number
}

export async function openFixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'mxd-features-'))
  const store = new Store({ dir: join(dir, 'store') })
  const corpus = writeCorpus(dir)
  const ds = await registerDataset(store.db, corpus, { heldOutFraction: 0.5 })
  return { store, dir, datasetId: ds.id }
}

/** Writes `layer` as a layer folder (in dir/name) for block `block` of the demo model and imports it: the layer-import run's id. */
export function importTestLayer(store: Store, dir: string, layer: SparseLayer, block: number, name: string): number {
  const folder = join(dir, name)
  saveLayerFolder(folder, layer, {
    hook_name: hookNames.ln2(block),
    hook_name_out: hookNames.mlpOut(block),
    layer: block,
    model_name: 'kjv-gpt2-mini',
    model_hash: modelFingerprint(DEMO),
    training: { model: DEMO },
  })
  return importLayer(store, folder).run.id
}

/** Runs a feature index of `layerRunId` in-process, as the worker would (again, for `runId`: a resume); its run id. */
export async function runIndex(
  f: Fixture,
  layerRunId: number,
  o: { tokens: number; ctx: number; batch?: number; cancelled?: () => boolean; runId?: number },
): Promise<number> {
  const config = FeatureIndexConfig.parse({ layerRunId, data: f.datasetId, tokens: o.tokens, ctx: o.ctx, batch: o.batch ?? 4 })
  const run = o.runId !== undefined ? f.store.getRun(o.runId)! : f.store.createRun('feature-index', config)
  const ctx: JobContext<FeatureIndexConfig> = {
    runId: run.id,
    kind: 'feature-index',
    config,
    store: f.store,
    resumeFrom: undefined,
    cancelled: o.cancelled ?? (() => false),
    progress: () => undefined,
    log: (level, message) => f.store.log(run.id, level, message),
    checkpoint: () => {
      throw new Error('the feature index writes no checkpoints')
    },
  }
  await featureIndexJob.run(ctx)
  return run.id
}
