// Feature-index throughput and peak memory (bench/README.md, "feature index").
//
//   npx tsx bench/features/index-bench.ts demo [TOKENS]
//     The whole `feature-index` job, in-process on a fresh store: the bundled demo model
//     (kjv-gpt2-mini, d = 192), a seeded random MxD of the kind's default width spliced at block 2,
//     TOKENS held-out tokens of the bundled KJV corpus (default the job's default budget).
//   npx tsx bench/features/index-bench.ts gpt2-small [TOKENS]
//     A GPT-2-small-shaped MxD (d = 768, N = 21,490, H = 3,072, K = 32, seeded random weights)
//     over TOKENS random inputs (default 20,000): the layer's forward plus the streaming
//     accumulator and the per-unit summaries and encoding — everything of the index but the
//     model's forward and the values pass, which need a d = 768 model.
//
// Prints one JSON line: tokens, seconds, tokens/s, peak RSS (MB), stored bytes.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { FeatureAccumulator } from '../../src/analysis/features/accumulator.js'
import { encodeUnitDetail } from '../../src/analysis/features/codec.js'
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
  const layer = createSparseLayer('mxd', { dIn: d, dOut: d, width, k, hidden: 3072, glu: false }, 1)
  const vocab = 50_257
  const acc = new FeatureAccumulator(width, vocab, 0)
  const batch = 256
  const started = performance.now()
  let layerSeconds = 0
  for (let done = 0; done < tokens; done += batch) {
    const rows = Math.min(batch, tokens - done)
    const t0 = performance.now()
    const [values, indices] = tf.tidy(() => {
      const x = tf.randomNormal([rows, d], 0, 1, 'float32', done + 1) as tf.Tensor2D
      const out = layer.forward(x)
      return [out.selected!.values, tf.cast(out.selected!.indices, 'int32')]
    })
    const v = (await values.data()) as Float32Array
    const i = (await indices.data()) as Int32Array
    values.dispose()
    indices.dispose()
    layerSeconds += (performance.now() - t0) / 1000
    // Token ids only feed the units-by-token sketch here: any spread over GPT-2's vocabulary.
    acc.add(v, i, rows, k, done, Array.from({ length: rows }, (_, r) => ((done + r) * 7919) % vocab))
  }
  const streamSeconds = (performance.now() - started) / 1000
  const t1 = performance.now()
  let bytes = 0
  for (let u = 0; u < width; u++) {
    const s = acc.summary(u)
    // Contexts without their values (those come from the values pass, which needs the model).
    const bare = (xs: { position: number; value: number }[]): { position: number; value: number; firedAt: number[]; firedValues: number[] }[] =>
      xs.map((c) => ({ ...c, firedAt: [], firedValues: [] }))
    bytes += encodeUnitDetail({ histogram: s.histogram, cofiring: s.cofiring, top: bare(s.top), bands: s.bands.map((b) => ({ lo: b.lo, hi: b.hi, samples: bare(b.samples) })) }).length
  }
  const summarySeconds = (performance.now() - t1) / 1000
  layer.dispose()
  return {
    case: 'gpt2-small',
    kind: 'mxd',
    d,
    width,
    k,
    hidden: 3072,
    tokens,
    seconds: streamSeconds + summarySeconds,
    tokensPerSecond: tokens / streamSeconds,
    layerForwardSeconds: layerSeconds,
    accumulatorSeconds: streamSeconds - layerSeconds,
    summarySeconds,
    peakRssMb: peakMb(),
    detailBytesWithoutValues: bytes,
  }
}

await initBackend()
const out = which === 'gpt2-small' ? await gpt2Small(Number(tokensArg ?? 20_000)) : await demo(Number(tokensArg ?? FEATURE_LIMITS.defaultTokens))
console.log(JSON.stringify({ ...out, backend: tf.getBackend(), load: (await import('node:os')).loadavg() }))
