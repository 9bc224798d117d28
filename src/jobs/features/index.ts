// The `feature-index` job (docs/features.md): per unit of a converted or imported sparse layer,
// what it does on a dataset's held-out split. One streaming pass over the text with the layer at
// its block (src/analysis/features/pass.ts), then a second pass over only the sequences that hold
// a kept context, to record the unit's activations over each context. It writes, in the run's
// folder, features/tokens.u32 (the indexed token ids, uint32 little-endian, sequence after
// sequence), features/vocab.json (the decoded text of each id that occurs) and
// features/token-units.bin (per token id, the units firing most on it), each atomically,
// and then the feature_indexes / feature_units rows in one transaction.
//
// Resume: the streaming state is not checkpointed (it is rebuilt in a few minutes at the default
// budget); a resumed or re-queued index restarts cleanly from the first token, and nothing is
// visible to readers until the final transaction commits.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { FeatureAccumulator } from '../../analysis/features/accumulator.js'
import { encodeTokenUnits, encodeUnitDetail } from '../../analysis/features/codec.js'
import { decoderEffects, expertEffects, hasDecoderRows, type UnitEffect } from '../../analysis/features/effect.js'
import { streamingPass, valuesPass, type ContextValues } from '../../analysis/features/pass.js'
import { FEATURE_FILES } from '../../analysis/features/read.js'
import { loadLayerFolder } from '../../convert/layer-file.js'
import { packSequences } from '../../data/pack.js'
import { readDocuments } from '../../data/read.js'
import { datasetOptions } from '../../data/registry.js'
import { loadLanguageModel } from '../../engine/models/load.js'
import { TextTokenizer } from '../../engine/tokenizer.js'
import { FeatureIndexConfig } from '../../shared/features.js'
import { JobError } from '../../shared/errors.js'
import { writeFileAtomic } from '../../store/files.js'
import type { FeatureUnitStoreRow } from '../../store/store.js'
import { evalInputs } from '../convert/eval-inputs.js'
import { resolveDataset } from '../dataset.js'
import { defineJob, type JobContext } from '../job.js'
import { jobLayerDir } from '../layer-run.js'

export const featureIndexJob = defineJob('feature-index', FeatureIndexConfig, featureIndex)

async function featureIndex(ctx: JobContext<FeatureIndexConfig>): Promise<void> {
  const c = ctx.config
  const store = ctx.store
  const layerDir = jobLayerDir(store, c.layerRunId)
  if (ctx.resumeFrom === undefined && store.getFeatureIndex(ctx.runId)) ctx.log('info', 'Indexing again from the first token.')
  const trained = store.getRun(c.layerRunId)
  const { layer, cfg } = loadLayerFolder(layerDir)
  try {
    const inputs = evalInputs(
      store,
      {
        trainRunId: c.layerRunId,
        model: c.model,
        data: c.data,
        textField: c.textField,
        ctx: c.ctx,
        tokens: c.tokens,
        batch: c.batch,
        seed: c.seed,
      },
      cfg,
      trained,
    )
    const dataset = await resolveDataset(store, inputs.data, inputs.textField)
    const model = await loadLanguageModel(inputs.modelDir)
    try {
      const block = cfg.layer
      if (block >= model.nLayers)
        throw new JobError(`The layer replaces block ${block}, but ${inputs.modelDir} has blocks 0…${model.nLayers - 1}.`)
      const seqLen = Math.min(inputs.seqLen, model.dims.maxPositions)
      const tokenizer = TextTokenizer.fromFolder(inputs.modelDir)
      const bosId = tokenizer ? tokenizer.bosId : model.dims.bosId
      const wanted = Math.max(1, Math.ceil(c.tokens / seqLen))
      const total = wanted * seqLen
      ctx.log(
        'info',
        `Indexing the ${layer.width} units of the ${cfg.architecture} layer of block ${block} (k = ${layer.k}) over up to ${total} held-out tokens of ${dataset.path}.`,
      )
      const opts = datasetOptions(dataset)
      const sequences = packSequences(readDocuments(dataset.path, opts), tokenizer, {
        ...opts,
        split: 'heldout',
        ctx: seqLen,
        addBos: true,
        bosId,
      })
      const started = performance.now()
      const report = (phase: string, done: number, of: number): void => {
        const perSecond = done / Math.max(1e-3, (performance.now() - started) / 1000)
        ctx.progress({
          unit: 'tokens',
          done,
          total: of,
          perSecond,
          etaSeconds: perSecond > 0 ? Math.max(0, of - done) / perSecond : null,
          message: phase,
        })
      }
      const stream = await streamingPass(model, layer, block, sequences, {
        wanted,
        seqLen,
        batch: c.batch,
        seed: c.seed,
        cancelled: ctx.cancelled,
        onProgress: (done) => report('Indexing', done, total),
      })
      if (!stream) return
      if (stream.sequences === 0) {
        throw new JobError(
          `The held-out split of ${dataset.path} has no complete sequence of ${seqLen} tokens: lower --ctx, or use a larger dataset.`,
        )
      }
      if (stream.sequences < wanted) ctx.log('warn', `The held-out split gave ${stream.tokens.length} tokens of the ${total} asked for.`)
      const contexts = await valuesPass(model, layer, block, stream, {
        batch: c.batch,
        cancelled: ctx.cancelled,
        onProgress: (done) => report('Reading the contexts', done, stream.tokens.length),
      })
      if (!contexts) return
      let effects: (UnitEffect | null)[] | null = null
      if (hasDecoderRows(layer) || stream.contributions) {
        ctx.progress({ unit: 'tokens', done: stream.tokens.length, total: stream.tokens.length, message: 'Reading the output effects' })
        // A transcoder latent's decoder row; an MxD expert's mean contribution where it fired.
        effects = stream.contributions
          ? await expertEffects(model, layer, stream.contributions, stream.acc.count, { cancelled: ctx.cancelled })
          : await decoderEffects(model, layer, { cancelled: ctx.cancelled })
        if (!effects) return
      }
      const dir = join(store.runDir(ctx.runId), FEATURE_FILES.dir)
      mkdirSync(dir, { recursive: true })
      const tok = stream.tokens
      writeFileAtomic(join(dir, FEATURE_FILES.tokens), new Uint8Array(tok.buffer, tok.byteOffset, tok.byteLength))
      const vocab: Record<number, string> = {}
      const shown = new Set(tok)
      for (const e of effects ?? []) for (const t of e ? [...e.top, ...e.bottom] : []) shown.add(t.id)
      if (tokenizer) for (const id of shown) vocab[id] = tokenizer.decode([id])
      writeFileAtomic(join(dir, FEATURE_FILES.vocab), new TextEncoder().encode(JSON.stringify(vocab)))
      writeFileAtomic(join(dir, FEATURE_FILES.tokenUnits), encodeTokenUnits(stream.acc))
      const acc: FeatureAccumulator = stream.acc
      let dead = 0
      for (let u = 0; u < layer.width; u++) if (acc.count[u] === 0) dead++
      // One unit at a time (its summary is recomputed, deterministically, rather than kept for all units).
      function* rows(table: ContextValues): Generator<FeatureUnitStoreRow> {
        for (let u = 0; u < layer.width; u++) {
          const s = acc.summary(u)
          const n = s.count
          yield {
            unit: u,
            count: n,
            mean: n > 0 ? s.sum / n : 0,
            max: s.max,
            detail: encodeUnitDetail({
              histogram: s.histogram,
              cofiring: s.cofiring,
              effect: effects?.[u] ?? null,
              ...table.unitContexts(u, s),
            }),
          }
        }
      }
      const tokens = tok.length
      store.saveFeatureIndex(
        { runId: ctx.runId, layerRunId: c.layerRunId, kind: cfg.architecture, block, width: layer.width, k: layer.k, tokens, seqLen, dead },
        rows(contexts),
      )
      const metrics = {
        'features.tokens': tokens,
        'features.dead_fraction': dead / layer.width,
        'features.tokens_per_second': tokens / ((performance.now() - started) / 1000),
      }
      store.addMetrics(ctx.runId, 0, metrics)
      const message = `${layer.width - dead} of ${layer.width} units fired on ${tokens} tokens (${dead} dead)`
      ctx.progress({ unit: 'tokens', done: tokens, total: tokens, message, metrics })
      ctx.log('info', `${message}.`)
    } finally {
      model.dispose()
    }
  } finally {
    layer.dispose()
  }
}
