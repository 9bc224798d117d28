// The `steer-score` job (docs/steering.md#the-steering-score): how much steering each unit of a
// layer pushes generation toward the unit's own top output tokens. With the layer spliced into
// its block, S samples are generated without steering (seeds s … s+S−1, shared by every unit) and
// S with the unit steered (same seeds, same sampling); the score is the difference in the share
// of generated tokens that are among the unit's 10 top tokens (the feature index's output
// effect), and the perplexity of the steered text under the clean (dense, unspliced) model says
// whether the text stayed fluent. The result is steer-score.json in the run's folder
// (steering.getScore). Progress counts generations; a cancelled run writes nothing.
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { unitPage } from '../analysis/features/read.js'
import { loadLayerFolder, modelFingerprint, type LayerFileConfig } from '../convert/layer-file.js'
import { splicedMlps } from '../convert/splice.js'
import { generate } from '../engine/generate.js'
import type { LanguageModel } from '../engine/models/model.js'
import { loadLanguageModel } from '../engine/models/load.js'
import { TextTokenizer } from '../engine/tokenizer.js'
import { JobError } from '../shared/errors.js'
import { STEERING_LIMITS, SteerScoreConfig, type SteeringSettings, type SteerScoreResult, type SteerScoreUnit } from '../shared/steering.js'
import { writeFileAtomic } from '../store/files.js'
import type { Store } from '../store/store.js'
import { defineJob, type JobContext } from './job.js'
import { jobLayerDir } from './layer-run.js'

const RESULT_FILE = 'steer-score.json'

export const steerScoreJob = defineJob('steer-score', SteerScoreConfig, steerScore)

interface Sample {
  seed: number
  text: string | null
  ids: number[]
}

async function steerScore(ctx: JobContext<SteerScoreConfig>): Promise<void> {
  const c = ctx.config
  const s = c.settings
  const { indexRunId, tops } = unitTopTokens(ctx.store, c.layerRunId, c.units)
  const layerDir = jobLayerDir(ctx.store, c.layerRunId)
  const { layer, cfg } = loadLayerFolder(layerDir)
  const modelDir = layerModelDir(ctx.store, c.layerRunId, cfg)
  const tokenizer = TextTokenizer.fromFolder(modelDir)
  if (!tokenizer) throw new JobError(`${modelDir} has no tokenizer.json, so it cannot read the prompt.`)
  const model = await loadLanguageModel(modelDir)
  try {
    const promptIds = tokenizer.encode(s.prompt)
    const total = s.samples * (c.units.length + 1)
    let done = 0
    const started = performance.now()
    const step = (): void => {
      done++
      const perSecond = done / ((performance.now() - started) / 1000)
      ctx.progress({ unit: 'samples', done, total, perSecond, etaSeconds: perSecond > 0 ? (total - done) / perSecond : null })
    }
    /** S samples with the layer spliced and `steer` applied; null once cancelled. */
    const samples = async (steer: { unit: number; value: number }[]): Promise<Sample[] | null> => {
      const mlps = splicedMlps(model, { block: cfg.layer, layer }, steer)
      const out: Sample[] = []
      for (let i = 0; i < s.samples; i++) {
        if (ctx.cancelled()) return null
        const r = await generate(model, promptIds, {
          ...sampling(s, s.seed + i),
          tokenizer,
          modelName: modelDir,
          forward: { mlpReplacements: mlps },
        })
        out.push({ seed: r.seed, text: r.text, ids: r.ids })
        step()
      }
      return out
    }
    ctx.log(
      'info',
      `Steering ${c.units.length} unit(s) of run ${c.layerRunId} (${c.presetName}): ${s.samples} samples a side, ${total} generations.`,
    )
    const baseline = await samples([])
    if (!baseline) return
    const units: SteerScoreUnit[] = []
    for (const unit of c.units) {
      const steered = await samples([{ unit, value: s.value }])
      if (!steered) return
      const top = tops.get(unit)!
      const ids = new Set(top.map((t) => t.id))
      const st = countHits(steered, ids)
      const un = countHits(baseline, ids)
      units.push({
        unit,
        topTokens: top,
        steered: st,
        unsteered: un,
        score: st.rate - un.rate,
        ratio: ((st.hits + 1) / (un.hits + 1)) * (un.tokens / Math.max(1, st.tokens)),
        perplexity: cleanPerplexity(model, promptIds, steered),
        samples: steered,
      })
    }
    const result: SteerScoreResult = {
      layerRunId: c.layerRunId,
      indexRunId,
      presetName: c.presetName,
      settings: s,
      baseline: { perplexity: cleanPerplexity(model, promptIds, baseline), samples: baseline },
      units,
    }
    writeFileAtomic(join(ctx.store.runDir(ctx.runId), RESULT_FILE), new TextEncoder().encode(JSON.stringify(result)))
    const mean = units.reduce((a, u) => a + u.score, 0) / units.length
    ctx.store.addMetrics(ctx.runId, 0, { mean_score: mean, baseline_perplexity: result.baseline.perplexity })
    ctx.progress({ unit: 'samples', done: total, total, message: `mean score ${mean.toFixed(4)} over ${units.length} unit(s)` })
  } finally {
    model.dispose()
    layer.dispose()
  }
}

/** The sampling of a preset with one seed (top-k off, as in the paper). */
export function sampling(
  s: SteeringSettings,
  seed: number,
): { maxNewTokens: number; temperature: number; topP: number; frequencyPenalty: number; seed: number } {
  return { maxNewTokens: s.maxTokens, temperature: s.temperature, topP: s.topP, frequencyPenalty: s.frequencyPenalty, seed }
}

function countHits(samples: readonly Sample[], ids: ReadonlySet<number>): { hits: number; tokens: number; rate: number } {
  let hits = 0
  let tokens = 0
  for (const smp of samples) {
    tokens += smp.ids.length
    for (const id of smp.ids) if (ids.has(id)) hits++
  }
  return { hits, tokens, rate: tokens > 0 ? hits / tokens : 0 }
}

/**
 * exp of the mean −log p of the samples' generated tokens under the model as it is (no splice),
 * each token predicted from the prompt and the tokens before it; pooled over the samples.
 */
function cleanPerplexity(model: LanguageModel, promptIds: readonly number[], samples: readonly Sample[]): number {
  let nll = 0
  let n = 0
  for (const smp of samples) {
    if (smp.ids.length === 0) continue
    const seq = [...promptIds, ...smp.ids].slice(0, model.dims.maxPositions)
    const { logits } = model.forward([seq])
    const v = logits!.shape[2]
    const data = logits!.dataSync() as Float32Array
    logits!.dispose()
    for (let t = promptIds.length; t < seq.length; t++) {
      const row = data.subarray((t - 1) * v, t * v)
      let max = -Infinity
      for (const x of row) max = Math.max(max, x)
      let sum = 0
      for (const x of row) sum += Math.exp(x - max)
      nll += max + Math.log(sum) - row[seq[t]!]!
      n++
    }
  }
  return n > 0 ? Math.exp(nll / n) : NaN
}

/**
 * The model a layer run's layer belongs to: the folder its training recorded (the layer's
 * cfg.json, else the run's config), else the registered model whose fingerprint is the layer's.
 */
function layerModelDir(store: Store, layerRunId: number, cfg: LayerFileConfig): string {
  const training = cfg.training as Record<string, unknown>
  const runConfig = (store.getRun(layerRunId)?.config ?? {}) as Record<string, unknown>
  const named = [training.model, runConfig.model].find((v): v is string => typeof v === 'string')
  if (named !== undefined) return resolve(named)
  const known = store.listModels().find((m) => {
    try {
      return modelFingerprint(m.path) === cfg.model_hash
    } catch {
      return false
    }
  })
  if (known) return known.path
  throw new JobError(
    `Run ${layerRunId}'s layer does not say which model it belongs to, and no registered model matches it: add that model on the Models page.`,
  )
}

/**
 * Each unit's top output tokens from the layer's newest feature index (its effect's top list).
 * A unit without them cannot be scored: the error says how to get them.
 */
export function unitTopTokens(
  store: Store,
  layerRunId: number,
  units: readonly number[],
): { indexRunId: number; tops: Map<number, { id: number; text: string | null }[]> } {
  const index = store.latestFeatureIndex(layerRunId)
  if (!index)
    throw new JobError(
      `Run ${layerRunId} has no feature index, which gives each unit's top output tokens: run "mxd features index --run ${layerRunId}" first.`,
    )
  const runDir = store.runDir(index.runId)
  const tops = new Map<number, { id: number; text: string | null }[]>()
  const missing: number[] = []
  for (const unit of units) {
    if (unit >= index.width) throw new JobError(`Unit ${unit} does not exist: run ${layerRunId}'s layer has units 0…${index.width - 1}.`)
    const row = store.getFeatureUnit(index.runId, unit)
    const top = row ? unitPage(runDir, index, row).effect.top.slice(0, STEERING_LIMITS.topTokens) : []
    if (top.length === 0) missing.push(unit)
    else
      tops.set(
        unit,
        top.map((t) => ({ id: t.id, text: t.text })),
      )
  }
  if (missing.length > 0) {
    throw new JobError(
      `Feature index ${index.runId} has no output effect for unit(s) ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}: ` +
        `a dead unit has none, and a ${index.kind} layer gets one only from a feature index that computes it — ` +
        `index the layer again with "mxd features index --run ${layerRunId}" once its kind has an output effect, or score other units.`,
    )
  }
  return { indexRunId: index.runId, tops }
}

/** The result a `steer-score` run wrote, or null while it has none. */
export function readSteerScore(store: Store, runId: number): SteerScoreResult | null {
  const path = join(store.runDir(runId), RESULT_FILE)
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as SteerScoreResult) : null
}
