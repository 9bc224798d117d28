// The `probe` job (docs/probing.md): sparse probing of a converted or imported layer on a
// labelled task. It reads the task file, pools each text's codes with the layer at its block
// (src/analysis/probe/pool.ts), splits the examples (stratified, seeded), probes each class
// one-vs-rest (src/analysis/probe/probe.ts) and writes the result as probe.json in the run's
// folder, with the mean scores as metrics. Nothing is checkpointed: a resumed run starts again
// (a task of a few thousand texts takes a minute or two on the demo model).
import { basename, join, resolve } from 'node:path'
import { pooledCodes, sequenceOf, type TokenizedText } from '../analysis/probe/pool.js'
import { meanScores, probeClasses, stratifiedSplit } from '../analysis/probe/probe.js'
import { parseTaskFile, TaskFileError, taskFormat, type LabelledExample } from '../analysis/probe/task-file.js'
import { loadLayerFolder } from '../convert/layer-file.js'
import { getDataset } from '../data/registry.js'
import { ModelLoadError } from '../engine/model-folder.js'
import { loadLanguageModel } from '../engine/models/load.js'
import { TextTokenizer } from '../engine/tokenizer.js'
import { readRegularFile, UserPathError } from '../fs/user-files.js'
import { PROBE_LIMITS, PROBE_RESULT_FILE, ProbeConfig, type ProbeResult } from '../shared/probe.js'
import { JobError } from '../shared/errors.js'
import { writeFileAtomic } from '../store/files.js'
import type { Store } from '../store/store.js'
import { evalInputs } from './convert/eval-inputs.js'
import { defineJob, type JobContext } from './job.js'
import { jobLayerDir } from './layer-run.js'

export const probeJob = defineJob('probe', ProbeConfig, probe)

/** The task file `data` names: a path, or a registered dataset that is one .csv or .jsonl file. */
function taskPath(store: Store, data: string | number): string {
  if (typeof data === 'string') return resolve(data)
  const ds = getDataset(store.db, data)
  if (!ds) throw new JobError(`There is no dataset #${data}: list them with "mxd datasets", or give the task file's path.`)
  if (ds.files !== 1)
    throw new JobError(
      `Dataset #${data} (${ds.path}) is a folder of ${ds.files} files: a probing task is one .csv or .jsonl file; give its path.`,
    )
  return ds.path
}

/** Every class needs examples in each split; a task of one class has nothing to tell apart. */
function checkClasses(examples: LabelledExample[], file: string): void {
  const counts = new Map<string, number>()
  for (const e of examples) counts.set(e.label, (counts.get(e.label) ?? 0) + 1)
  if (counts.size < 2)
    throw new JobError(
      `${file}: ${counts.size === 0 ? 'no examples' : `every example has the label "${[...counts.keys()][0]}"`}: a probing task needs at least two labels.`,
    )
  if (counts.size > PROBE_LIMITS.maxClasses)
    throw new JobError(
      `${file}: ${counts.size} different labels; a probing task can have at most ${PROBE_LIMITS.maxClasses}: check that --label-field names the label.`,
    )
  const few = [...counts.entries()].filter(([, n]) => n < PROBE_LIMITS.minPerClass)
  if (few.length > 0) {
    const list = few
      .slice(0, 5)
      .map(([l, n]) => `"${l}" (${n})`)
      .join(', ')
    throw new JobError(
      `${file}: label${few.length > 1 ? 's' : ''} ${list} ${few.length > 1 ? 'have' : 'has'} fewer than ${PROBE_LIMITS.minPerClass} examples, too few to split into training, validation and test: add examples or drop the label.`,
    )
  }
}

async function probe(ctx: JobContext<ProbeConfig>): Promise<void> {
  const c = ctx.config
  const store = ctx.store
  const layerDir = jobLayerDir(store, c.layerRunId)
  const path = taskPath(store, c.data)
  let examples: LabelledExample[]
  try {
    taskFormat(path)
    const content = (await readRegularFile(path, { what: 'the task file', maxBytes: PROBE_LIMITS.maxFileBytes })).toString('utf8')
    examples = parseTaskFile(content, path, { textField: c.textField, labelField: c.labelField, maxExamples: c.maxExamples })
  } catch (err) {
    if (err instanceof TaskFileError || err instanceof UserPathError) throw new JobError(err.message)
    throw err
  }
  checkClasses(examples, path)
  const { layer, cfg } = loadLayerFolder(layerDir)
  try {
    // The model folder as an evaluation finds it; evalInputs also resolves a dataset, which the
    // probe does not take from it (the task file is its data), so the task's path stands in.
    const { modelDir } = evalInputs(
      store,
      { trainRunId: c.layerRunId, data: path, tokens: 1, batch: 1, seed: 0 },
      cfg,
      store.getRun(c.layerRunId),
    )
    const tokenizer = TextTokenizer.fromFolder(modelDir)
    if (!tokenizer) throw new JobError(`${modelDir} has no tokenizer.json: probing reads text, so the model folder needs its tokenizer.`)
    let model
    try {
      model = await loadLanguageModel(modelDir)
    } catch (err) {
      if (err instanceof ModelLoadError) throw new JobError(err.message)
      throw err
    }
    try {
      const block = cfg.layer
      if (block >= model.nLayers)
        throw new JobError(`The layer replaces block ${block}, but ${modelDir} has blocks 0…${model.nLayers - 1}.`)
      let truncated = 0
      const kept: { example: LabelledExample; seq: TokenizedText }[] = []
      for (const e of examples) {
        const s = sequenceOf(tokenizer.encode(e.text, { addSpecialTokens: false }), tokenizer.bosId, model.dims.maxPositions)
        if (s.ids.length <= s.first) continue
        if (s.truncated) truncated++
        kept.push({ example: e, seq: s })
      }
      const empty = examples.length - kept.length
      if (empty > 0)
        ctx.log(
          'warn',
          `${empty} example${empty > 1 ? 's have' : ' has'} no text to pool (no token after BOS) and ${empty > 1 ? 'are' : 'is'} left out.`,
        )
      if (truncated > 0)
        ctx.log(
          'warn',
          `${truncated} text${truncated > 1 ? 's are' : ' is'} longer than the model's ${model.dims.maxPositions} positions: only their first tokens are pooled.`,
        )
      checkClasses(
        kept.map((k) => k.example),
        path,
      )
      ctx.log(
        'info',
        `Probing the ${layer.width} units of the ${cfg.architecture} layer of block ${block} (k = ${layer.k}) on ${kept.length} labelled texts of ${path}.`,
      )
      const started = performance.now()
      const total = kept.length
      const codes = await pooledCodes(
        model,
        layer,
        block,
        kept.map((k) => k.seq),
        {
          batch: c.batch,
          padId: tokenizer.bosId ?? 0,
          cancelled: ctx.cancelled,
          onProgress: (done) => {
            const perSecond = done / Math.max(1e-3, (performance.now() - started) / 1000)
            ctx.progress({
              unit: 'examples',
              done,
              total,
              perSecond,
              etaSeconds: perSecond > 0 ? (total - done) / perSecond : null,
              message: 'Reading the codes',
            })
          },
        },
      )
      if (!codes) return
      const labels = kept.map((k) => k.example.label)
      const split = stratifiedSplit(labels, c.seed)
      const classes = probeClasses(codes, labels, split, {
        cancelled: ctx.cancelled,
        onClass: () => ctx.progress({ unit: 'examples', done: total, total, message: 'Fitting the probes' }),
      })
      if (!classes) return
      const size = (s: string): number => split.filter((v) => v === s).length
      const result: ProbeResult = {
        layer: { runId: c.layerRunId, kind: cfg.architecture, block, k: layer.k, width: layer.width },
        task: { name: basename(path), path, textField: c.textField, labelField: c.labelField, examples: kept.length, truncated, empty },
        split: { seed: c.seed, train: size('train'), validation: size('validation'), test: size('test') },
        classes,
        mean: meanScores(classes),
      }
      writeFileAtomic(join(store.runDir(ctx.runId), PROBE_RESULT_FILE), new TextEncoder().encode(JSON.stringify(result)))
      const metrics = {
        'probe.mean_f1': result.mean.f1,
        'probe.mean_balanced_accuracy': result.mean.balancedAccuracy,
        'probe.test_chosen_mean_f1': result.mean.testChosenF1,
        'probe.examples': kept.length,
      }
      store.addMetrics(ctx.runId, 0, metrics)
      const message = `mean F1 ${result.mean.f1.toFixed(3)}, balanced accuracy ${result.mean.balancedAccuracy.toFixed(3)} over ${classes.length} classes`
      ctx.progress({ unit: 'examples', done: total, total, message, metrics })
      ctx.log(
        'info',
        `${message} (test split of ${result.split.test}; units chosen on the validation split of ${result.split.validation}).`,
      )
    } finally {
      model.dispose()
    }
  } finally {
    layer.dispose()
  }
}
