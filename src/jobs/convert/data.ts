// The conversion's data path: dataset → packed, shuffled sequences (a new shuffle each epoch) →
// the harvester running the model to block `layer`'s MLP → the activation buffer the steps draw
// batches from, refilled with whole chunks when half read.
import { packSequences } from '../../data/pack.js'
import { readDocuments } from '../../data/read.js'
import { datasetOptions } from '../../data/registry.js'
import type { LanguageModel } from '../../engine/models/model.js'
import type { TextTokenizer } from '../../engine/tokenizer.js'
import { ActivationBuffer } from '../../convert/activation-buffer.js'
import { Harvester, SequenceStream, type ActivationRows } from '../../convert/harvest.js'
import type { Dataset } from '../../shared/api.js'
import { rowsPerSequence, type ConvertConfig, type ResolvedSizes } from '../../shared/convert.js'
import type { JobContext } from '../job.js'

/** Sequences the packer shuffles within (documents' order is mixed before harvesting, too). */
const SEQUENCE_SHUFFLE = 1024

export interface TrainingData {
  stream: SequenceStream
  harvester: Harvester
  buffer: ActivationBuffer
  /** Rows one harvested chunk adds to the buffer. */
  rowsPerChunk: number
  /** Whether the BOS position's rows are left out (ConvertConfig.trainOnBos). */
  skipFirst: boolean
}

export interface DataSource {
  model: LanguageModel
  dataset: Dataset
  tokenizer: TextTokenizer | null
  bos: number | null
  skipFirst: boolean
  onHarvest?: (rows: ActivationRows) => void
}

export function openTrainingData(ctx: JobContext<ConvertConfig>, sizes: ResolvedSizes, src: DataSource): TrainingData {
  const config = ctx.config
  const { dataset, tokenizer, bos, skipFirst } = src
  const opts = datasetOptions(dataset)
  const stream = new SequenceStream(
    (epoch) =>
      packSequences(readDocuments(dataset.path, opts), tokenizer, {
        ...opts,
        split: 'train',
        ctx: config.ctx,
        addBos: bos !== null,
        bosId: bos,
        shuffle: { seed: mix(config.seed, epoch), bufferSize: SEQUENCE_SHUFFLE },
      }),
    (epoch, n) => ctx.log('warn', `The training split ran out after ${n} sequences; starting epoch ${epoch + 1} (reshuffled).`),
  )
  const harvester = new Harvester(src.model, config.layer, stream, config.harvestBatch, skipFirst, src.onHarvest)
  const buffer = new ActivationBuffer({ capacity: sizes.bufferRows, dIn: sizes.d, dOut: sizes.d, seed: config.seed })
  const rowsPerChunk = config.harvestBatch * rowsPerSequence(config.ctx, skipFirst)
  return { stream, harvester, buffer, rowsPerChunk, skipFirst }
}

/** Fills the buffer's free slots with whole chunks, reporting each one harvested. */
export async function refill(data: TrainingData, report: (message: string) => void): Promise<void> {
  const chunks: ActivationRows[] = []
  const n = Math.max(1, Math.floor(data.buffer.free / data.rowsPerChunk))
  // Not interrupted by a cancel: a checkpoint's stream position must match the buffer's rows.
  for (let i = 0; i < n; i++) {
    chunks.push(await data.harvester.nextChunk())
    report(`Harvesting activations (${i + 1}/${n} chunks, ${Math.round(data.harvester.tokensPerSecond)} tokens/s)`)
  }
  data.buffer.refill(chunks)
}

/** A derived seed for epoch e's sequence shuffle. */
function mix(seed: number, epoch: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 31) + epoch) >>> 0
}
