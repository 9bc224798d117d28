// The conversion checkpoint's file format: one safetensors file per checkpoint holding the layer,
// the AdamW state, each unit's last firing step and the activation buffer's slots, with
// CheckpointMeta (the stream position and counters) as JSON in its metadata. Only the newest
// files are kept on disk (shared/convert.ts CHECKPOINT_FILES_PEAK).
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { LayerTensors, SparseLayer } from '../../engine/layers/sparse-layer.js'
import type { AdamW } from '../../engine/optim/adamw.js'
import { SafetensorsFile, writeSafetensors, type WritableTensor } from '../../engine/safetensors.js'
import type { BufferState } from '../../convert/activation-buffer.js'
import { CHECKPOINT_FILES_PEAK, type ConvertConfig } from '../../shared/convert.js'
import { JobError } from '../../shared/errors.js'
import type { JobContext } from '../job.js'

const CHECKPOINT_FILE = 'convert.safetensors'
export const CHECKPOINT_VERSION = 1

/** What a checkpoint's metadata holds besides the tensors. */
export interface CheckpointMeta {
  version: number
  step: number
  tokens: number
  /** Index of the next sequence to harvest. */
  position: number
  datasetSha256: string
  buffer: Omit<BufferState, 'slotSeq' | 'slotPos' | 'slotBorn' | 'queue'>
  harvestTokens: number
  harvestSeconds: number
  trainSeconds: number
  /** The lr the run trained with up to this checkpoint (absent in older checkpoints). */
  lr?: number
  /** Whether the BOS position's rows were harvested (absent in older checkpoints: they skipped them). */
  trainOnBos?: boolean
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta
  layer: LayerTensors
  optimizer: Record<string, { shape: number[]; data: Float32Array | Int32Array }>
  lastFired: Int32Array
  buffer: BufferState
}

/**
 * One safetensors file: `layer.<name>` (F32), `opt.<AdamW state>`, `last_fired` and the buffer's
 * `buffer.*` arrays (I32), with CheckpointMeta as JSON in the metadata. Written atomically,
 * after deleting all files but the newest (shared/convert.ts CHECKPOINT_FILES_PEAK).
 */
export function writeCheckpoint(
  ctx: JobContext<ConvertConfig>,
  step: number,
  layer: SparseLayer,
  opt: AdamW,
  buffer: BufferState,
  lastFired: Int32Array,
  meta: CheckpointMeta,
  written?: (step: number, path: string) => void,
): void {
  const tensors: Record<string, WritableTensor> = {}
  for (const [name, t] of Object.entries(layer.toTensors())) tensors[`layer.${name}`] = t
  for (const [name, t] of Object.entries(opt.stateTensors())) tensors[`opt.${name}`] = t
  const i32 = (data: Int32Array): WritableTensor => ({ dtype: 'I32', shape: [data.length], data })
  tensors.last_fired = i32(lastFired)
  tensors['buffer.slot_seq'] = i32(buffer.slotSeq)
  tensors['buffer.slot_pos'] = i32(buffer.slotPos)
  tensors['buffer.slot_born'] = i32(buffer.slotBorn)
  tensors['buffer.queue'] = i32(buffer.queue)
  // Disk: a GPT-2-small MxD checkpoint is ~400 MB. Only the newest file is kept while the next
  // one is written (temp file, fsync, rename), so at most CHECKPOINT_FILES_PEAK exist at any time
  // and the last good one survives a crash or a full disk mid-write.
  pruneCheckpointFiles(ctx, CHECKPOINT_FILES_PEAK - 1)
  const path = join(ctx.store.runDir(ctx.runId), `step-${step}-${CHECKPOINT_FILE}`)
  const sha = writeSafetensors(path, tensors, { mxd_convert: JSON.stringify(meta) })
  ctx.store.addCheckpoint(ctx.runId, step, path, sha)
  written?.(step, path)
}

/** Deletes all but the newest `keep` checkpoint files (their rows stay in the run's history). */
export function pruneCheckpointFiles(ctx: JobContext<ConvertConfig>, keep: number): void {
  // By path, newest row last: a file rewritten at the same step has several rows but is one file.
  const paths = [...new Set(ctx.store.getCheckpoints(ctx.runId).reverse().map((c) => c.path))].reverse()
  const files = paths.filter((p) => p.endsWith(CHECKPOINT_FILE) && existsSync(p))
  for (const old of files.slice(0, Math.max(0, files.length - keep))) rmSync(old, { force: true })
}

export function readCheckpoint(path: string): LoadedCheckpoint {
  if (!existsSync(path)) throw new JobError(`The checkpoint ${path} is missing, so the run cannot resume: start a new run.`)
  const file = SafetensorsFile.open(path)
  try {
    const raw = file.metadata.mxd_convert
    if (raw === undefined) throw new JobError(`${path} is not a conversion checkpoint.`)
    const meta = JSON.parse(raw) as CheckpointMeta
    if (meta.version !== CHECKPOINT_VERSION) throw new JobError(`${path} has checkpoint version ${meta.version}; this app reads ${CHECKPOINT_VERSION}.`)
    const layer: LayerTensors = {}
    const optimizer: LoadedCheckpoint['optimizer'] = {}
    for (const [name, info] of file.tensors) {
      if (name.startsWith('layer.')) layer[name.slice(6)] = { shape: info.shape, data: file.readFloat32(name) }
      else if (name === 'opt.step') optimizer.step = { shape: info.shape, data: file.readInt32(name) }
      else if (name.startsWith('opt.')) optimizer[name.slice(4)] = { shape: info.shape, data: file.readFloat32(name) }
    }
    return {
      meta,
      layer,
      optimizer,
      lastFired: file.readInt32('last_fired'),
      buffer: {
        slotSeq: file.readInt32('buffer.slot_seq'),
        slotPos: file.readInt32('buffer.slot_pos'),
        slotBorn: file.readInt32('buffer.slot_born'),
        queue: file.readInt32('buffer.queue'),
        ...meta.buffer,
      },
    }
  } finally {
    file.close()
  }
}
