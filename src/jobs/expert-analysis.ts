// The `expert-analysis` job: the expert-specialisation analysis of a μMoE GPT-2 on held-out
// text (src/analysis/experts.ts), written as experts.json in the run's folder, where
// experts.get reads it. Progress counts tokens; a cancelled run writes nothing.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { analyzeModelFolder, ExpertAnalysisError } from '../analysis/experts.js'
import { DatasetError } from '../data/formats.js'
import { ModelLoadError } from '../engine/model-folder.js'
import { ExpertAnalysisConfig, type ExpertAnalysis } from '../shared/experts.js'
import type { Store } from '../store/store.js'
import { writeFileAtomic } from '../store/files.js'
import { defineJob, JobError, type JobContext } from './job.js'

const RESULT_FILE = 'experts.json'

export const expertAnalysisJob = defineJob('expert-analysis', ExpertAnalysisConfig, expertAnalysis)

async function expertAnalysis(ctx: JobContext<ExpertAnalysisConfig>): Promise<void> {
  const c = ctx.config
  const started = performance.now()
  ctx.log('info', `Reading the gates of ${c.model} over ${c.tokens} held-out tokens of ${c.data}.`)
  let analysis: ExpertAnalysis | null
  try {
    analysis = await analyzeModelFolder(c.model, {
      data: c.data,
      tokens: c.tokens,
      heldOutFraction: c.heldOutFraction,
      splitSeed: c.splitSeed,
      seqLen: c.seqLen,
      cancelled: () => ctx.cancelled(),
      onProgress: (done, total) => {
        const perSecond = done / ((performance.now() - started) / 1000)
        ctx.progress({ unit: 'tokens', done, total, perSecond, etaSeconds: perSecond > 0 ? (total - done) / perSecond : null })
      },
    })
  } catch (err) {
    // A missing or unreadable model folder, a dense model, too little text: the user's to fix.
    if (err instanceof ExpertAnalysisError || err instanceof ModelLoadError || err instanceof DatasetError) throw new JobError(err.message)
    throw err
  }
  if (!analysis) return
  writeFileAtomic(join(ctx.store.runDir(ctx.runId), RESULT_FILE), new TextEncoder().encode(JSON.stringify(analysis)))
  const s = analysis.summary
  const metrics = {
    specialised: s.specialised,
    by_class: s.byClass,
    by_token: s.byToken,
    mean_class_entropy: s.meanClassEntropy,
    ...(s.byTheme === null ? {} : { by_theme: s.byTheme }),
  }
  ctx.store.addMetrics(ctx.runId, 0, metrics)
  const message = `${s.active}/${s.experts} experts active, ${(100 * s.specialised).toFixed(0)}% of them specialised`
  ctx.progress({ unit: 'tokens', done: analysis.text.tokens, total: analysis.text.tokens, message, metrics })
  ctx.log('info', `${message} (${analysis.text.tokens} tokens).`)
}

/** The analysis an `expert-analysis` run wrote, or null while it has none. */
export function readExpertAnalysis(store: Store, runId: number): ExpertAnalysis | null {
  const path = join(store.runDir(runId), RESULT_FILE)
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ExpertAnalysis) : null
}
