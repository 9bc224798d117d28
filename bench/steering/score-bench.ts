// The steering score of a layer's most frequent units (docs/steering.md, "Measured").
//
//   npx tsx bench/steering/score-bench.ts --store DIR --run LAYER_RUN [--units 20] [--samples 10] [--tokens 16384]
//
// In-process, on the store in DIR: (1) the layer run's feature index — its newest one, or a new
// `feature-index` job of TOKENS held-out tokens of the layer's training data when it has none;
// (2) the `steer-score` job with the paper's preset (+100, "Let's talk about ", 32 tokens,
// temperature 1, top-p 0.1, frequency penalty 1) over SAMPLES seeds for the UNITS most frequent
// live units of that index. Prints a Markdown table (one row per unit, then the mean) and the
// seconds each step took.
import { parseArgs } from 'node:util'
import { initBackend } from '../../src/engine/backend.js'
import { featureIndexJob } from '../../src/jobs/features/index.js'
import type { JobContext, JobDefinition } from '../../src/jobs/job.js'
import { readSteerScore, steerScoreJob } from '../../src/jobs/steer-score.js'
import type { RunKind } from '../../src/shared/api.js'
import { FeatureIndexConfig } from '../../src/shared/features.js'
import { PAPER_PRESET, SteerScoreConfig } from '../../src/shared/steering.js'
import { Store } from '../../src/store/store.js'

const { values } = parseArgs({
  options: { store: { type: 'string' }, run: { type: 'string' }, units: { type: 'string', default: '20' }, samples: { type: 'string', default: '10' }, tokens: { type: 'string', default: '16384' } },
})
if (!values.store || !values.run) throw new Error('usage: score-bench.ts --store DIR --run LAYER_RUN [--units 20] [--samples 10] [--tokens 16384]')
const layerRunId = Number(values.run)

/** Runs a job in this process with the context a worker gives it, and fails loudly as the worker would. */
async function runJob<C extends Record<string, unknown>>(store: Store, kind: RunKind, job: JobDefinition<C>, config: C): Promise<number> {
  const run = store.createRun(kind, config, 'running')
  let last = 0
  const ctx: JobContext<C> = {
    runId: run.id,
    kind,
    config,
    store,
    resumeFrom: undefined,
    cancelled: () => false,
    progress: (p) => {
      if (performance.now() - last > 5000) {
        last = performance.now()
        process.stderr.write(`${kind}: ${p.done}/${p.total} ${p.unit}\n`)
      }
    },
    log: (level, message) => store.log(run.id, level, message),
    checkpoint: () => '',
  }
  await job.run(ctx)
  store.setRunStatus(run.id, 'succeeded')
  return run.id
}

await initBackend()
const store = new Store({ dir: values.store })
try {
  let t = performance.now()
  let index = store.latestFeatureIndex(layerRunId)
  if (!index) {
    await runJob(store, 'feature-index', featureIndexJob, FeatureIndexConfig.parse({ layerRunId, tokens: Number(values.tokens) }))
    index = store.latestFeatureIndex(layerRunId)!
  }
  const indexSeconds = (performance.now() - t) / 1000
  const top = store.listFeatureUnits(index.runId, { sort: 'count', desc: true, minCount: 1, maxCount: index.tokens, offset: 0, limit: Number(values.units) }).units
  const settings = { ...PAPER_PRESET.settings, samples: Number(values.samples) }
  t = performance.now()
  const scoreRun = await runJob(
    store,
    'steer-score',
    steerScoreJob,
    SteerScoreConfig.parse({ layerRunId, units: top.map((u) => u.unit), presetName: PAPER_PRESET.name, settings }),
  )
  const scoreSeconds = (performance.now() - t) / 1000
  const r = readSteerScore(store, scoreRun)!
  const freq = new Map(top.map((u) => [u.unit, u.count / index.tokens]))
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`
  console.log(`layer run ${layerRunId} (${index.kind}, block ${index.block}, ${index.width} units, K = ${index.k}); feature index ${index.runId} (${index.tokens} tokens); steer-score run ${scoreRun}`)
  console.log(`${settings.samples} seeds a side (${settings.seed}…${settings.seed + settings.samples - 1}), ${settings.maxTokens} tokens, +${settings.value}; unsteered perplexity ${r.baseline.perplexity.toFixed(1)}\n`)
  console.log('| unit | frequency | top output tokens | steered rate | unsteered rate | score | ratio | perplexity |')
  console.log('|---:|---:|---|---:|---:|---:|---:|---:|')
  for (const u of r.units) {
    const tokens = u.topTokens.slice(0, 4).map((x) => `\`${JSON.stringify(x.text ?? `#${x.id}`).slice(1, -1)}\``).join(' ')
    console.log(`| ${u.unit} | ${pct(freq.get(u.unit)!)} | ${tokens} | ${pct(u.steered.rate)} | ${pct(u.unsteered.rate)} | ${(100 * u.score).toFixed(1)} | ${u.ratio.toFixed(1)} | ${u.perplexity.toFixed(1)} |`)
  }
  const mean = (f: (u: (typeof r.units)[number]) => number): number => r.units.reduce((a, u) => a + f(u), 0) / r.units.length
  const medianOf = (xs: number[]): number => {
    const v = [...xs].sort((a, b) => a - b)
    return (v[(v.length - 1) >> 1]! + v[v.length >> 1]!) / 2
  }
  const median = medianOf(r.units.map((u) => u.score))
  console.log(`| **mean** | | | ${pct(mean((u) => u.steered.rate))} | ${pct(mean((u) => u.unsteered.rate))} | ${(100 * mean((u) => u.score)).toFixed(1)} | ${mean((u) => u.ratio).toFixed(1)} | ${mean((u) => u.perplexity).toFixed(1)} |`)
  console.log(
    `\nmedian score ${(100 * median).toFixed(1)}; median steered perplexity ${medianOf(r.units.map((u) => u.perplexity)).toFixed(1)}; units with score > 0: ${r.units.filter((u) => u.score > 0).length}/${r.units.length}`,
  )
  console.log(`feature index ${indexSeconds.toFixed(1)} s (0 when it existed), steering score ${scoreSeconds.toFixed(1)} s`)
} finally {
  store.close()
}
