// The `pretrain` job: pre-trains a GPT-2 (dense or μMoE MLPs) on a dataset with the trainer of
// src/engine/train, reporting loss / held-out loss / tokens per second / lr / gradient norm live
// and as metrics, checkpointing (atomically, through the job context) every checkpointEvery
// steps, on cancel, and at the end; a resumed run continues from the newest checkpoint and
// reproduces the uninterrupted run's loss curve exactly. Output: a Hugging Face model folder,
// registered on the Models page.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readDocuments } from '../data/read.js'
import { splitOf } from '../data/split.js'
import { tf } from '../engine/backend.js'
import { matchedCpRank, matchedTrRanks } from '../engine/layers/mumoe.js'
import { inspectModelFolder } from '../engine/model-folder.js'
import { SafetensorsFile } from '../engine/safetensors.js'
import { TextTokenizer } from '../engine/tokenizer.js'
import { bpeTokenizerJson, gpt2TokenizerConfig, trainBpe } from '../engine/train/bpe.js'
import { loadPretrainData } from '../engine/train/data.js'
import { TrainableGpt2, type Gpt2Config, type MlpConfig } from '../engine/train/gpt2.js'
import { saveGpt2Folder, type TokenizerFiles } from '../engine/train/save.js'
import { NonFiniteLossError, Pretrainer, trainLoop, type TrainSettings } from '../engine/train/trainer.js'
import { PretrainConfig } from '../shared/api.js'
import { defineJob, JobError, type JobContext } from './job.js'

const EOS = '<|endoftext|>'
/** Text the tokenizer trainer reads at most: enough for a few-thousand-token vocabulary. */
const BPE_TEXT_LIMIT = 50_000_000

export function mlpConfig(c: PretrainConfig): MlpConfig {
  if (c.mlp === 'dense') return { kind: 'dense' }
  const nExperts = c.experts!
  const dims = { dModel: c.dModel, hidden: 4 * c.dModel }
  if (c.mlp === 'cpmoe') return { kind: 'cpmoe', nExperts, rank: c.rank ?? matchedCpRank(dims, nExperts) }
  return { kind: 'trmoe', nExperts, ranks: c.rank ? { r1: 4, r2: 4, r3: c.rank } : matchedTrRanks(dims, nExperts) }
}

/** The GPT-2 a pre-training run of `c` builds (its MLP and vocabulary decided by the caller). */
export function gpt2Config(c: Pick<PretrainConfig, 'ctx' | 'layers' | 'heads' | 'dModel'>, mlp: MlpConfig, vocabSize: number): Gpt2Config {
  return { vocabSize, nPositions: c.ctx, nLayer: c.layers, nHead: c.heads, nEmbd: c.dModel, mlp, layerNormEps: 1e-5 }
}

export function trainSettings(c: PretrainConfig): TrainSettings {
  const totalSteps = Math.ceil(c.tokens / (c.batch * c.ctx))
  return {
    batch: c.batch,
    lr: c.lr,
    minLrRatio: 0.1,
    warmupSteps: c.warmup ?? Math.min(200, Math.round(totalSteps * 0.05)),
    totalSteps,
    weightDecay: 0.1,
    betas: [0.9, 0.95],
    gradClip: 1,
    seed: c.seed,
  }
}

/**
 * The tokenizer: the given folder's, or one trained on the training split and kept in the
 * output folder from the start, so a resumed run tokenizes exactly as the first attempt did.
 */
async function tokenizerFor(ctx: JobContext<PretrainConfig>): Promise<{ tokenizer: TextTokenizer; files: TokenizerFiles }> {
  const c = ctx.config
  const dir = c.tokenizer ?? c.out
  if (c.tokenizer || existsSync(join(c.out, 'tokenizer.json'))) {
    const read = (name: string): object =>
      existsSync(join(dir, name)) ? (JSON.parse(readFileSync(join(dir, name), 'utf8')) as object) : {}
    const files = { json: read('tokenizer.json'), config: read('tokenizer_config.json') }
    const tokenizer = TextTokenizer.fromFolder(dir)
    if (!tokenizer) throw new JobError(`${dir} has no tokenizer.json`)
    return { tokenizer, files }
  }
  ctx.log('info', `Training a ${c.vocabSize}-token byte-level BPE tokenizer on the training split.`)
  const texts: string[] = []
  let chars = 0
  for await (const doc of readDocuments(c.data)) {
    if (doc.kind !== 'text') throw new JobError(`${c.data} is pre-tokenized: give --tokenizer, the folder of the tokenizer that made it`)
    if (splitOf(doc, { heldOutFraction: c.heldOutFraction }) !== 'train') continue
    texts.push(doc.text)
    chars += doc.text.length
    if (chars > BPE_TEXT_LIMIT) break
  }
  const bpe = trainBpe(texts, { vocabSize: c.vocabSize, specialTokens: [EOS] })
  const files = { json: bpeTokenizerJson(bpe, [EOS]), config: gpt2TokenizerConfig(EOS, c.ctx) }
  mkdirSync(c.out, { recursive: true })
  writeFileSync(join(c.out, 'tokenizer.json'), JSON.stringify(files.json) + '\n')
  writeFileSync(join(c.out, 'tokenizer_config.json'), JSON.stringify(files.config, null, 2) + '\n')
  return { tokenizer: TextTokenizer.fromJson(files.json, files.config), files }
}

export async function pretrain(ctx: JobContext<PretrainConfig>): Promise<void> {
  const c = ctx.config
  const settings = trainSettings(c)
  const { tokenizer, files } = await tokenizerFor(ctx)
  const modelConfig = gpt2Config(c, mlpConfig(c), Math.max(tokenizer.vocabSize, c.tokenizer ? 0 : c.vocabSize))
  const data = await loadPretrainData(c.data, tokenizer, {
    ctx: c.ctx,
    heldOutFraction: c.heldOutFraction,
    maxTrainSequences: settings.totalSteps * c.batch,
    maxHeldoutSequences: c.evalSequences,
  })
  if (data.train.length < c.batch) {
    throw new JobError(
      `${c.data} packs into ${data.train.length} training sequences of ${c.ctx + 1} tokens, fewer than one batch of ${c.batch}: use a smaller --ctx or --batch, or more data.`,
    )
  }
  if (data.heldout.length === 0)
    ctx.log('warn', 'No held-out sequence: the held-out split is too small for one sequence, so no held-out loss is reported.')

  const model = new TrainableGpt2(modelConfig, c.seed)
  const trainer = new Pretrainer(model, data.train, data.heldout, settings)
  try {
    if (ctx.resumeFrom) {
      const file = SafetensorsFile.open(ctx.resumeFrom.path)
      try {
        trainer.restore(file)
      } finally {
        file.close()
      }
      ctx.log('info', `Resuming from the checkpoint of step ${trainer.step}.`)
    } else {
      ctx.log(
        'info',
        `${model.paramCount().toLocaleString('en')} parameters, ${settings.totalSteps} steps of ${c.batch}×${c.ctx} tokens; ${data.train.length} training and ${data.heldout.length} held-out sequences.`,
      )
    }
    const tokensPerStep = c.batch * c.ctx
    const total = settings.totalSteps * tokensPerStep
    let heldout: number | undefined
    let lastGood = trainer.step
    const checkpoint = (step: number, bytes: Uint8Array): void => {
      ctx.checkpoint(step, bytes, 'pretrain.safetensors')
      lastGood = step
    }
    let outcome: 'finished' | 'cancelled'
    try {
      outcome = await trainLoop(trainer, {
        cancelled: () => ctx.cancelled(),
        onStep: (r) => {
          const metrics: Record<string, number> = { loss: r.loss, lr: r.lr, grad_norm: r.gradNorm, tokens_per_s: r.tokensPerSecond }
          ctx.store.addMetrics(ctx.runId, r.step, metrics)
          ctx.progress({
            unit: 'tokens',
            done: r.tokens,
            total,
            perSecond: r.tokensPerSecond,
            etaSeconds: r.tokensPerSecond > 0 ? (total - r.tokens) / r.tokensPerSecond : null,
            message: `step ${r.step}/${settings.totalSteps} loss ${r.loss.toFixed(3)}${heldout === undefined ? '' : ` held-out ${heldout.toFixed(3)}`}`,
            metrics: heldout === undefined ? metrics : { ...metrics, heldout_loss: heldout },
          })
        },
        evalEvery: c.evalEvery,
        onEval: (step, loss) => {
          if (!Number.isFinite(loss)) return
          heldout = loss
          ctx.store.addMetrics(ctx.runId, step, { heldout_loss: loss })
        },
        checkpointEvery: c.checkpointEvery,
        onCheckpoint: checkpoint,
      })
    } catch (err) {
      if (err instanceof NonFiniteLossError) {
        throw new JobError(
          `Training stopped: the ${err.message}. The last good checkpoint (step ${lastGood}) is kept; resume the run, or start again with a lower --lr.`,
        )
      }
      throw err
    }
    if (outcome === 'cancelled') {
      if (trainer.step > lastGood) checkpoint(trainer.step, trainer.checkpointBytes())
      ctx.log('info', `Cancelled at step ${trainer.step}; resume to continue.`)
      return
    }
    saveGpt2Folder(c.out, model, {
      dtype: c.dtype,
      tokenizer: files,
      bosId: tokenizer.bosId ?? tokenizer.eosId,
      eosId: tokenizer.eosId,
      metadata: { mxd_run: String(ctx.runId) },
    })
    const info = inspectModelFolder(c.out)
    ctx.store.upsertModel({ path: c.out, name: info.name, architecture: info.architecture, source: 'added', info })
    ctx.log('info', `Saved ${c.out}${heldout === undefined ? '' : ` (held-out loss ${heldout.toFixed(4)})`}.`)
  } finally {
    trainer.dispose()
    model.dispose()
    tf.disposeVariables()
  }
}

export const pretrainJob = defineJob('pretrain', PretrainConfig, pretrain)
