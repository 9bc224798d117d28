// Feature-index throughput and peak memory (bench/README.md, "feature index").
//
//   npx tsx bench/features/index-bench.ts demo [TOKENS]
//     The whole `feature-index` job, in-process on a fresh store: the bundled demo model
//     (kjv-gpt2-mini, d = 192), a seeded random MxD of the kind's default width spliced at block 2,
//     TOKENS held-out tokens of the bundled KJV corpus (default the job's default budget).
//   npx tsx bench/features/index-bench.ts gpt2-small [TOKENS]
//     A GPT-2-small-shaped MxD (d = 768, N = 21,490, H = 3,072, K = 32, seeded random weights)
//     spliced into block 1 of a 2-block GPT-2-small-width model with random weights
//     (bench/forward/engine-model.ts), over TOKENS random token ids (default 100,000) in
//     sequences of 128: the streaming pass (with the experts' contribution sums), the values
//     pass, the experts' output effects and the encoding of every unit, as the job runs them
//     (without the store writes).
//
// Prints one JSON line: tokens, seconds, tokens/s, peak RSS (MB), stored bytes.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { encodeUnitDetail } from '../../src/analysis/features/codec.js'
import { expertEffects } from '../../src/analysis/features/effect.js'
import { streamingPass, valuesPass } from '../../src/analysis/features/pass.js'
import { importLayer } from '../../src/convert/export.js'
import { modelFingerprint, saveLayerFolder } from '../../src/convert/layer-file.js'
import { registerDataset } from '../../src/data/registry.js'
import { initBackend, tf } from '../../src/engine/backend.js'
import { hookNames } from '../../src/engine/hooks.js'
import { createSparseLayer } from '../../src/engine/layers/kinds.js'
import { featureIndexJob } from '../../src/jobs/features/index.js'
import { FeatureIndexConfig, FEATURE_LIMITS } from '../../src/shared/features.js'
import { layerKind } from '../../src/shared/layer-kinds/index.js'
import { Store } from '../../src/store/store.js'
import { randomGpt2 } from '../forward/engine-model.js'
import { GPT2_SMALL, mulberry32 } from '../forward/shape.js'

const root = resolve(import.meta.dirname, '../..')
const [which = 'demo', tokensArg] = process.argv.slice(2)
const peakMb = (): number => process.resourceUsage().maxRSS / 1024

async function demo(tokens: number): Promise<Record<string, unknown>> {
  const modelDir = join(root, 'resources/models/kjv-gpt2-mini')
  const dir = mkdtempSync(join(tmpdir(), 'mxd-bench-features-'))
  const store = new Store({ dir: join(dir, 'store') })
  const ds = await registerDataset(store.db, join(root, 'resources/corpus/kjv'))
  const width = layerKind('mxd').defaultWidth({ d: 192, hidden: 768, glu: false })
  const layer = createSparseLayer('mxd', { dIn: 192, dOut: 192, width, k: 16, hidden: 768, glu: false }, 1)
  saveLayerFolder(join(dir, 'layer'), layer, {
    hook_name: hookNames.ln2(2),
    hook_name_out: hookNames.mlpOut(2),
    layer: 2,
    model_name: 'kjv-gpt2-mini',
    model_hash: modelFingerprint(modelDir),
    training: { model: modelDir },
  })
  layer.dispose()
  const layerRunId = importLayer(store, join(dir, 'layer')).run.id
  const config = FeatureIndexConfig.parse({ layerRunId, data: ds.id, tokens })
  const run = store.createRun('feature-index', config)
  const started = performance.now()
  await featureIndexJob.run({
    runId: run.id,
    kind: 'feature-index',
    config,
    store,
    resumeFrom: undefined,
    cancelled: () => false,
    progress: () => undefined,
    log: (level, message) => store.log(run.id, level, message),
    checkpoint: () => '',
  })
  const seconds = (performance.now() - started) / 1000
  const index = store.getFeatureIndex(run.id)!
  const bytes = (store.db.prepare('SELECT SUM(LENGTH(detail)) AS n FROM feature_units WHERE run_id = ?').get(run.id) as { n: number }).n
  store.close()
  return { case: 'demo', kind: 'mxd', width, k: 16, tokens: index.tokens, seconds, tokensPerSecond: index.tokens / seconds, peakRssMb: peakMb(), detailBytes: bytes, tokenFileBytes: index.tokens * 4 }
}

async function gpt2Small(tokens: number): Promise<Record<string, unknown>> {
  const d = 768
  const width = 21_490
  const k = 32
  const seqLen = 128
  // GPT-2 small's width and vocabulary with random weights, 2 blocks (the layer replaces block 1's
  // MLP): the passes run exactly as in the job; the 10 blocks a real GPT-2 small has above would
  // only add forward time, never memory the index holds.
  const shape = { ...GPT2_SMALL, nLayers: 2 }
  const model = await randomGpt2(shape)
  const layer = createSparseLayer('mxd', { dIn: d, dOut: d, width, k, hidden: 3072, glu: false }, 1)
  const wanted = Math.ceil(tokens / seqLen)
  const rand = mulberry32(7)
  async function* sequences(): AsyncGenerator<Int32Array> {
    for (let i = 0; i < wanted; i++) yield Int32Array.from({ length: seqLen }, () => Math.floor(rand() * shape.vocab))
  }
  const started = performance.now()
  const stream = (await streamingPass(model, layer, 1, sequences(), { wanted, seqLen, batch: 8, seed: 0 }))!
  const streamSeconds = (performance.now() - started) / 1000
  const rssAfterStream = process.memoryUsage().rss / 2 ** 20
  const t1 = performance.now()
  const table = (await valuesPass(model, layer, 1, stream, { batch: 8 }))!
  const valuesSeconds = (performance.now() - t1) / 1000
  const t2 = performance.now()
  const effects = (await expertEffects(model, layer, stream.contributions!, stream.acc.count))!
  const effectSeconds = (performance.now() - t2) / 1000
  const t3 = performance.now()
  let bytes = 0
  for (let u = 0; u < width; u++) {
    const s = stream.acc.summary(u)
    bytes += encodeUnitDetail({ histogram: s.histogram, cofiring: s.cofiring, effect: effects[u] ?? null, ...table.unitContexts(u, s) }).length
  }
  const encodeSeconds = (performance.now() - t3) / 1000
  const seconds = (performance.now() - started) / 1000
  layer.dispose()
  model.dispose()
  return {
    case: 'gpt2-small',
    kind: 'mxd',
    d,
    width,
    k,
    hidden: 3072,
    blocks: shape.nLayers,
    tokens: stream.tokens.length,
    seconds,
    tokensPerSecond: stream.tokens.length / seconds,
    streamSeconds,
    valuesSeconds,
    effectSeconds,
    encodeSeconds,
    contributionSumMb: stream.contributions!.sum.byteLength / 2 ** 20,
    contexts: table.unit.length,
    firedPairs: table.firedAt.length,
    rssAfterStreamMb: rssAfterStream,
    peakRssMb: peakMb(),
    detailBytes: bytes,
  }
}

await initBackend()
const out = which === 'gpt2-small' ? await gpt2Small(Number(tokensArg ?? 100_000)) : await demo(Number(tokensArg ?? FEATURE_LIMITS.defaultTokens))
console.log(JSON.stringify({ ...out, backend: tf.getBackend(), load: (await import('node:os')).loadavg() }))
